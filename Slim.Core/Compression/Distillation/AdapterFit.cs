namespace Slim.Compression.Distillation;

/// <summary>
/// One l2 adapter fitted by <see cref="Distiller.FitAdapters"/>: the pair, its channels (student → teacher), the
/// pixels it was fitted on and the fraction of the teacher features' variance the fitted map explains.
/// </summary>
public sealed record AdapterFit(int Pair, FeaturePair Features, long StudentChannels, long TeacherChannels, long Pixels, double ExplainedVariance);
