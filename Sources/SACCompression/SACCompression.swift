/// Compression methods and their encoder/decoder drivers.
public enum SACCompression {}
