namespace Slim.Export;

/// <summary>Latency of one model in ONNX Runtime, in milliseconds per run, after warm-up runs; P10/P90 give the spread.</summary>
public sealed record OrtLatency(int Threads, int Warmup, int Runs, double MedianMs, double MeanMs, double P10Ms, double P90Ms, double MinMs, double MaxMs);
