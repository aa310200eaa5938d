/// Objectives, the trainer, checkpoints.
public enum SACTraining {}
