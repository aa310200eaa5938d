/// Evaluation: the paper's metrics (ROUGE-1 set F, EM), the SQuAD metrics, and reports.
public enum SACEvaluation {}
