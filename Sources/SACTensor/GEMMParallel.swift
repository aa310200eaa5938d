/// Runs `body(i)` for `i` in `0..<count`: inline when `threads <= 1`, else through
/// `Parallel.forEach` (dynamic scheduling over the cores). GEMM workers that already run
/// inside a parallel loop (batched GEMM) pass `threads == 1` so that nothing nests.
@inline(__always)
func gemmForEach(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    if threads <= 1 || count == 1 {
        for i in 0..<count { body(i) }
    } else {
        Parallel.forEach(count, body)
    }
}
