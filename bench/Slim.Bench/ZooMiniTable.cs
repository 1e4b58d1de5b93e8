using System.Globalization;
using System.Text;
using System.Text.Json;
using Slim.Analysis;

namespace Slim.Bench;

/// <summary>
/// The mini zoo's table (bench/zoo-mini.sh): reads every row's report.json in every seed's folder and prints, per
/// family, strategy, GFLOPs, parameters, size, training budget, the score of each seed, their mean and the mean ΔAP
/// against the row's reference (paired by seed), then the orderings the model zoo's tables show, each with its
/// margin, the spread between seeds and whether it holds (<see cref="SeedOrdering"/>).
/// Inputs, written by the script: OUT/rows.tsv (section, folder, stage, reference, strategy, budget) and
/// OUT/orderings.tsv (A, B or best:B1,B2,…, holds | not_below, text); folders are relative to OUT/seed-N.
/// Usage: Slim.Bench --zoo-mini OUT --seeds 1,2
/// </summary>
public static class ZooMiniTable
{
    private sealed record Row(string Section, string Folder, string Stage, string Reference, string Strategy, string Budget);

    private sealed record Figures(double Score, double Gflops, long Parameters, double SizeMiB, string Metric);

    public static int Run(string[] args)
    {
        string outDir = Value(args, "--zoo-mini");
        var seeds = Value(args, "--seeds").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var rows = File.ReadAllLines(Path.Combine(outDir, "rows.tsv")).Where(l => l.Length > 0 && l[0] != '#')
            .Select(l => l.Split('\t')).Select(c => new Row(c[0], c[1], c[2], c[3], c[4], c[5])).ToList();
        var figures = rows.ToDictionary(r => r.Folder + "@" + r.Stage,
            r => seeds.Select(s => Read(Path.Combine(outDir, "seed-" + s, r.Folder, "report.json"), r.Stage)).ToArray());
        Figures[] Of(string key) => figures.TryGetValue(key, out var f) ? f
            : throw new InvalidDataException($"zoo-mini: no row '{key}' in rows.tsv (folder@stage)");
        double[] Scores(string key) => Of(key).Select(f => f.Score).ToArray();

        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        foreach (var section in rows.Select(r => r.Section).Distinct())
        {
            var own = rows.Where(r => r.Section == section).ToList();
            string metric = Of(own[0].Folder + "@" + own[0].Stage)[0].Metric;
            text.AppendLine(inv, $"### {section} ({metric}, %)").AppendLine();
            text.Append("| strategy | GFLOPs | params (M) | size (MiB) | training | ");
            text.Append(string.Join(" | ", seeds.Select(s => $"seed {s}"))).AppendLine(" | mean | Δ (pts) |");
            text.Append("|---|---:|---:|---:|---|").Append(string.Concat(seeds.Select(_ => "---:|"))).AppendLine("---:|---:|");
            foreach (var r in own)
            {
                var f = Of(r.Folder + "@" + r.Stage);
                var reference = Scores(r.Reference);
                double delta = f.Select((x, i) => x.Score - reference[i]).Average() * 100;
                string d = r.Reference == r.Folder + "@" + r.Stage ? "—" : delta.ToString("+0.00;−0.00;0.00", inv);
                text.Append(inv, $"| {r.Strategy} | {f[0].Gflops:F4} | {f[0].Parameters / 1e6:F3} | {f[0].SizeMiB:F2} | {r.Budget} | ");
                text.Append(string.Join(" | ", f.Select(x => (x.Score * 100).ToString("F2", inv))));
                text.AppendLine(inv, $" | {f.Average(x => x.Score) * 100:F2} | {d} |");
            }
            text.AppendLine();
        }

        var orderingsPath = Path.Combine(outDir, "orderings.tsv");
        if (File.Exists(orderingsPath))
        {
            text.AppendLine("### Orderings (paired by seed; holds = ahead in every seed by a mean margin above the spread between seeds)").AppendLine();
            text.AppendLine("| ordering | A (%) | B (%) | margin (pts) | spread (pts) | seeds A ahead | verdict |");
            text.AppendLine("|---|---:|---:|---:|---:|---:|---|");
            foreach (var c in File.ReadAllLines(orderingsPath).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split('\t')))
            {
                string bKey = c[1];
                if (bKey.StartsWith("best:", StringComparison.Ordinal))
                    bKey = bKey[5..].Split(',').MaxBy(k => Scores(k).Average())!;
                var o = SeedOrdering.Compare(Scores(c[0]), Scores(bKey));
                string verdict = c[2] switch
                {
                    "holds" => o.Holds ? "holds" : "does not hold",
                    "not_below" => o.NotBelow ? "holds" : "does not hold",
                    _ => throw new InvalidDataException($"zoo-mini: orderings.tsv: kind '{c[2]}'; use holds or not_below"),
                };
                string label = c[3].Replace("{B}", rows.First(r => r.Folder + "@" + r.Stage == bKey).Strategy, StringComparison.Ordinal);
                text.AppendLine(inv, $"| {label} | {o.MeanA * 100:F2} | {o.MeanB * 100:F2} | {o.Margin * 100:+0.00;−0.00;0.00} | {o.Spread * 100:F2} | {o.SeedsAhead}/{o.Seeds} | {verdict} |");
            }
        }
        Console.Write(text.ToString());
        File.WriteAllText(Path.Combine(outDir, "table.md"), text.ToString());
        return 0;
    }

    /// <summary>One stage's figures from a run's report.json: first (the run's baseline), last (its last compression
    /// stage), pruned (the last stage's model right after pruning, before its fine-tune: its ap_after_prune figure) or
    /// int8 (the INT8 ONNX model: ONNX Runtime's score, the INT8 file's size).</summary>
    private static Figures Read(string path, string stage)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"zoo-mini: {path} is missing: run bench/zoo-mini.sh first (it resumes)");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        string metric = root.GetProperty("metric").GetString()!;
        var stages = root.GetProperty("stages").EnumerateArray().ToList();
        var trained = stages.Where(s => !s.GetProperty("stage").GetString()!.StartsWith("onnx", StringComparison.Ordinal)).ToList();
        JsonElement e = stage switch
        {
            "first" => trained[0],
            "last" or "pruned" => trained[^1],
            "int8" => stages.Single(s => s.GetProperty("stage").GetString() == "onnx int8"),
            _ => throw new InvalidDataException($"zoo-mini: stage '{stage}'; use first, last, pruned or int8"),
        };
        bool onnx = stage == "int8";
        double score = stage == "pruned"
            ? e.TryGetProperty("figures", out var f) && f.TryGetProperty("ap_after_prune", out var p) ? p.GetDouble()
                : throw new InvalidDataException($"zoo-mini: {path}: its last stage has no ap_after_prune figure (not a prune stage, or a report from before figures were written: delete it and rerun)")
            : e.GetProperty(onnx ? "ort_ap" : "ap").GetDouble();
        return new Figures(score, e.GetProperty("gflops").GetDouble(),
            e.GetProperty("parameters").GetInt64(), e.GetProperty(onnx ? "onnx_size_mi_b" : "size_mi_b").GetDouble(), metric);
    }

    private static string Value(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"zoo-mini: give {name}");
    }
}
