#!/bin/bash
# Side-by-side speed of the gzip reader: today's (zlib's inflate through Sources/CZlib) against
# the hand-written DEFLATE decoder it replaced (commit da0a3e8^, taken from git history), on the
# same file, in alternating rounds. Both are compiled the same way (swiftc -O, whole module)
# with one driver that decompresses the file N times and prints MB/s of output.
# Usage: scripts/bench_gzip.sh [FILE] [ROUNDS]   (default ../shared/data/mrqa/SQuAD-train.jsonl.gz, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${1:-../shared/data/mrqa/SQuAD-train.jsonl.gz}; ROUNDS=${2:-5}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/old" "$W/new"
for f in Gzip GzipError CRC32 HuffmanTable Inflater; do git show "da0a3e8^:Sources/SACData/$f.swift" > "$W/old/$f.swift"; done
cp Sources/SACData/Gzip.swift Sources/SACData/GzipError.swift Sources/SACData/CRC32.swift "$W/new/"
cat > "$W/main.swift" <<'SWIFT'
import Foundation
let args = CommandLine.arguments
let data = try Data(contentsOf: URL(fileURLWithPath: args[1]))
let reps = Int(args[2])!
var best = Double.infinity, bytes = 0
for _ in 0..<reps {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let out = try Gzip.decompress(data)
    let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    bytes = out.count; best = min(best, s)
}
print(String(format: "%.1f MB/s (best of %d: %.1f ms for %d bytes out)", Double(bytes) / best / 1e6, reps, best * 1e3, bytes))
SWIFT
swiftc -O -wmo -module-name GzOld "$W"/old/*.swift "$W/main.swift" -o "$W/gz-old"
swiftc -O -wmo -module-name GzNew -I Sources/CZlib "$W"/new/*.swift "$W/main.swift" -o "$W/gz-new"
echo "file: $FILE ($(stat -c %s "$FILE") bytes); $ROUNDS alternating rounds, each the best of 5 decompressions"
for r in $(seq 1 "$ROUNDS"); do
  printf "round %d  hand-written: %s\n" "$r" "$("$W/gz-old" "$FILE" 5)"
  printf "round %d  zlib:         %s\n" "$r" "$("$W/gz-new" "$FILE" 5)"
done
