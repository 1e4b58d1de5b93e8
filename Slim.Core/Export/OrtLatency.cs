namespace Slim.Export;

/// <summary>Latency of one model in ONNX Runtime, in milliseconds per run, after warm-up runs.</summary>
public sealed record OrtLatency(int Threads, int Warmup, int Runs, double MedianMs, double MeanMs, double P90Ms, double MinMs, double MaxMs);
