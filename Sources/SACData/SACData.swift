/// Data readers: MRQA `.jsonl`/`.jsonl.gz`, SQuAD v1.1 JSON and plain-text corpora.
public enum SACData {}
