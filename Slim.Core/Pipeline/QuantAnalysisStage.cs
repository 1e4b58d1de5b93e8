using System.Globalization;
using System.Text.Json;
using Slim.Compression.Quantization;
using Slim.Recipes;
using Spectre.Console;

namespace Slim.Pipeline;

/// <summary>
/// <c>slim quant-analysis</c>: quantizes a float checkpoint as the recipe's quant section says (post-training by
/// default), then ranks the quantized layers by what each costs alone (<see cref="QuantAnalysis"/>), and writes the
/// ranking as <see cref="JsonName"/>, a table (<see cref="TableName"/>) and a bar chart (<see cref="PngName"/>).
/// </summary>
public static class QuantAnalysisStage
{
    public const string JsonName = "quant_analysis.json";
    public const string TableName = "quant_analysis.txt";
    public const string PngName = "quant_analysis.png";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Quantizes <paramref name="checkpoint"/>, scores every layer alone, writes the files into ctx.StageDir.</summary>
    public static QuantAnalysisResult Run(StageContext ctx, string checkpoint, QuantSection section)
    {
        var inv = CultureInfo.InvariantCulture;
        string metricName = ctx.Task.MetricName;
        using var run = QuantStage.Quantize(ctx, checkpoint, section);
        ctx.Progress.Info(string.Create(inv, $"quant analysis: {metricName} {run.ApBefore * 100:F2} % float, {run.ApAfter * 100:F2} % int8; scoring {run.Plan.Quantized.Count()} layers one at a time"));
        int done = 0, total = run.Plan.Quantized.Count();
        var result = QuantAnalysis.Run(run.Model, () => ctx.Task.Evaluate(run.Model).Primary,
            c => ctx.Progress.Info(string.Create(inv, $"quant analysis: {c.Layer} alone in int8: {metricName} {c.Metric * 100:F2} %, loss {c.Loss * 100:F2} pts ({++done}/{total})")),
            ctx.Cancel);
        Directory.CreateDirectory(ctx.StageDir);
        AtomicFile.WriteAllText(Path.Combine(ctx.StageDir, JsonName), JsonSerializer.Serialize(new
        {
            metric = metricName,
            algorithm = QuantizationResult.AlgorithmName(section.Algo),
            mode = RecipeBinder.EnumName(typeof(QuantMode), section.Mode),
            float_metric = result.FloatMetric,
            int8_metric = result.Int8Metric,
            layers = result.Layers,
        }, Json));
        AtomicFile.WriteAllText(Path.Combine(ctx.StageDir, TableName), PruneTables.Render(ToTable(result, metricName)) + "\n");
        Plots.QuantAnalysisChart.Save(result, metricName, Path.Combine(ctx.StageDir, PngName));
        return result;
    }

    /// <summary>The ranking as a table: each layer's metric alone in int8 and its loss, most costly first.</summary>
    public static Table ToTable(QuantAnalysisResult r, string metricName)
    {
        var ci = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape(string.Create(ci, $"quantization analysis: {metricName} {r.FloatMetric * 100:F2} % float, {r.Int8Metric * 100:F2} % all int8 (one layer int8 at a time)")))
            .AddColumn(new TableColumn("rank").RightAligned())
            .AddColumn("layer")
            .AddColumn(new TableColumn($"{metricName} (%)").RightAligned())
            .AddColumn(new TableColumn("loss (pts)").RightAligned());
        int rank = 0;
        foreach (var l in r.Layers)
            table.AddRow((++rank).ToString(ci), Markup.Escape(l.Layer), (l.Metric * 100).ToString("F2", ci), (l.Loss * 100).ToString("+0.00;-0.00;0.00", ci));
        return table.FitTitle();
    }
}
