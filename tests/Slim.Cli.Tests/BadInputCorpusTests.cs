using Slim.Models;
using Slim.Pipeline;
using Slim.Torch;

namespace Slim.Cli.Tests;

/// <summary>
/// Inputs a user can get wrong, for every verb: the command line, recipes given by -o, checkpoints, ONNX files, images,
/// datasets, folders. A trained tiny model, its ONNX export and the broken files sit in one folder.
/// </summary>
public sealed class BadInputFixture : IDisposable
{
    private readonly CliExportRun _run = new();

    public BadInputFixture()
    {
        Dir = _run.Dir;
        Recipe = _run.RecipePath;
        Checkpoint = _run.Checkpoint;
        var export = Path.Combine(Dir, "export");
        Assert.Equal(0, Program.Run(["export", Recipe, "--checkpoint", Checkpoint, "--out", export], TextWriter.Null));
        Onnx = Path.Combine(export, ExportStage.Fp32FileName);
        Image = Directory.GetFiles(_run.ValImages).Order(StringComparer.Ordinal).First();

        Junk = Write("junk.txt", "this is not what it claims to be");
        var bytes = File.ReadAllBytes(Checkpoint);
        Truncated = Write("truncated.ckpt", bytes[..(bytes.Length / 2)]);
        var flipped = (byte[])bytes.Clone();
        for (int i = bytes.Length / 2; i < bytes.Length / 2 + 8; i++) flipped[i] ^= 0x5a;
        Corrupt = Write("corrupt.ckpt", flipped);
        Resnet = Fresh("resnet.ckpt", "yolov3_resnet34", 0.25);
        Narrow = Fresh("narrow.ckpt", "yolov3_mobilenet_v1", 0.125);
        Classifier = Fresh("classifier.ckpt", "mobilenet_v2", 0.25, detector: false);
        Empty = Directory.CreateDirectory(Path.Combine(Dir, "empty")).FullName;
        Locked = Directory.CreateDirectory(Path.Combine(Dir, "locked")).FullName;
        // A quant folder with two checkpoints, neither called a twin, and a quant.json that is not JSON.
        QuantDir = Directory.CreateDirectory(Path.Combine(Dir, "quant")).FullName;
        File.Copy(Checkpoint, Path.Combine(QuantDir, "a.ckpt"));
        File.Copy(Checkpoint, Path.Combine(QuantDir, "b.ckpt"));
        File.WriteAllText(Path.Combine(QuantDir, QuantStage.QuantFileName), "{ not json");

        // The same data with one validation image annotated at another size than its file.
        var data = Path.Combine(Dir, "data");
        var sized = Path.Combine(Dir, "data-sized");
        foreach (var f in Directory.GetFiles(data, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(sized, Path.GetRelativePath(data, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        var val = Path.Combine(sized, "coco", "annotations", "instances_val.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(val))!;
        json["images"]![1]!["width"] = 1000;
        File.WriteAllText(val, json.ToJsonString());
        SizedRecipe = Write("sized.yml", File.ReadAllText(Recipe).Replace(data, sized));
        // Prune stages whose sensitivity section asks two ways of choosing, or names a latency table that is not there.
        TwoTargetsRecipe = Write("two-targets.yml", File.ReadAllText(Recipe) +
            "\nstages:\n  - prune: {sensitivity: {ratios: [0.5], target_flops_reduction: 0.3, target_latency_reduction: 0.3}}\n");
        NoTableRecipe = Write("no-table.yml", File.ReadAllText(Recipe) +
            $"\nstages:\n  - prune: {{sensitivity: {{ratios: [0.5], target_latency_reduction: 0.3, latency_table: '{Path.Combine(Dir, "missing.json")}'}}}}\n");
    }

    public string Dir { get; }
    public string Recipe { get; }
    public string Checkpoint { get; }
    public string Onnx { get; }
    public string Image { get; }
    public string Junk { get; }
    public string Truncated { get; }
    public string Corrupt { get; }
    public string Resnet { get; }
    public string Narrow { get; }
    public string Classifier { get; }
    public string Empty { get; }
    public string Locked { get; }
    public string QuantDir { get; }
    public string SizedRecipe { get; }
    public string TwoTargetsRecipe { get; }
    public string NoTableRecipe { get; }

    private string Write(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Fresh(string name, string architecture, double width, bool detector = true)
    {
        var options = new ModelOptions { NumClasses = _run.ClassNames.Count, Width = width, InputSize = detector ? 64 : 32 };
        using var model = detector ? (torch.nn.Module)ModelRegistry.CreateDetector(architecture, options) : ModelRegistry.CreateClassifier(architecture, options);
        var path = Path.Combine(Dir, name);
        Slim.Torch.Checkpoint.Save(path, model.state_dict(), options.ToMetadata(architecture));
        return path;
    }

    public void Dispose() => _run.Dispose();
}

/// <summary>
/// The bad-input corpus: each case is refused with its documented exit code and one line, <c>slim: error: …</c>, that
/// names the culprit, and leaves nothing behind (no output folder, not a byte changed in the folder of inputs). The
/// broken recipes of <see cref="RunCommandTests"/> are the rest of the corpus.
/// </summary>
public class BadInputCorpusTests(BadInputFixture fx) : IClassFixture<BadInputFixture>
{
    /// <summary>One bad input: the arguments ({placeholders} name the fixture's files, {out} a fresh output path).</summary>
    public sealed record Case(ExitCode Code, string Culprit, string[] Args, bool HoldLock = false);

    private const ExitCode Usage = ExitCode.Usage, Invalid = ExitCode.InvalidInput;

    public static readonly IReadOnlyDictionary<string, Case> Cases = new Dictionary<string, Case>
    {
        // The command line itself (System.CommandLine's parse errors and the verbs' own usage checks): exit 2.
        ["unknown verb"] = new(Usage, "'frob'", ["frob"]),
        ["unknown option"] = new(Usage, "'--frob'", ["train", "{recipe}", "--frob", "--out", "{out}"]),
        ["required option missing"] = new(Usage, "'--checkpoint' is required", ["export", "{recipe}", "--out", "{out}"]),
        ["option without its value"] = new(Usage, "'--pruned_ratios'", ["prune", "{recipe}", "--out", "{out}", "--pruned_ratios"]),
        ["a word for a whole number"] = new(Usage, "--sizes abc", ["flops", "--model", "yolov3_mobilenet_v1", "--sizes", "abc"]),
        ["a word for a fraction"] = new(Usage, "--max-drop 2pts", ["verify", "{recipe}", "--fp32", "{onnx}", "--max-drop", "2pts", "--out", "{out}"]),
        ["a stray word after a sub-verb"] = new(Usage, "slim dataset generate --help", ["dataset", "generate", "--out", "{out}", "--shapes", "0"]),
        ["infer with two models"] = new(Usage, "exactly one model", ["infer", "--checkpoint", "{ckpt}", "--onnx", "{onnx}", "--images", "{image}", "--out", "{out}"]),
        ["infer with no thread"] = new(Usage, "--threads 0", ["infer", "--onnx", "{onnx}", "--images", "{image}", "--threads", "0", "--out", "{out}"]),
        ["eval with no thread"] = new(Usage, "--threads 0", ["eval", "{recipe}", "--onnx", "{onnx}", "--threads", "0"]),
        ["eval without a recipe"] = new(Usage, "give a recipe", ["eval", "--checkpoint", "{ckpt}"]),
        ["eval annotations without results"] = new(Usage, "--annotations needs --results", ["eval", "--annotations", "{junk}"]),
        ["eval masks without predictions"] = new(Usage, "--masks needs --predictions", ["eval", "--masks", "{dir}"]),
        ["eval masks without a class count"] = new(Usage, "--masks needs --num-classes", ["eval", "--masks", "{dir}", "--predictions", "{dir}"]),
        ["eval masks ignoring a class"] = new(Usage, "--ignore 0 is one of the 19 classes", ["eval", "--masks", "{dir}", "--predictions", "{dir}", "--num-classes", "19", "--ignore", "0"]),
        ["eval masks of a missing folder"] = new(Invalid, "--masks {dir}/missing: folder not found", ["eval", "--masks", "{dir}/missing", "--predictions", "{dir}", "--num-classes", "19"]),
        ["eval masks that are colour images"] = new(Invalid, "is a RGBA PNG; label maps are 8-bit grayscale (value = class) or indexed", ["eval", "--masks", "{dir}", "--predictions", "{dir}", "--num-classes", "19"]),
        ["eval predictions without masks"] = new(Usage, "--predictions, --num-classes and --class-names go with --masks", ["eval", "{recipe}", "--predictions", "{dir}"]),
        ["verify with no thread"] = new(Usage, "--threads 0", ["verify", "{recipe}", "--fp32", "{onnx}", "--baseline-ap", "0.3", "--threads", "0", "--out", "{out}"]),
        ["verify a drop over 100 %"] = new(Usage, "--max-drop 1.5", ["verify", "{recipe}", "--fp32", "{onnx}", "--baseline-ap", "0.3", "--max-drop", "1.5", "--out", "{out}"]),
        ["verify a negative baseline"] = new(Usage, "--baseline-ap -0.1", ["verify", "{recipe}", "--fp32", "{onnx}", "--baseline-ap", "-0.1", "--out", "{out}"]),
        ["verify without a model"] = new(Usage, "--fp32 FILE", ["verify", "{recipe}", "--baseline-ap", "0.3", "--out", "{out}"]),
        ["verify without a baseline"] = new(Usage, "--baseline-ap", ["verify", "{recipe}", "--fp32", "{onnx}", "--out", "{out}"]),
        ["export a twin without its parameters"] = new(Usage, "--twin needs", ["export", "{recipe}", "--checkpoint", "{ckpt}", "--twin", "{ckpt}", "--out", "{out}"]),
        ["export a quant folder with two candidates"] = new(Usage, "a.ckpt, b.ckpt", ["export", "{recipe}", "--checkpoint", "{ckpt}", "--quant-dir", "{quantdir}", "--out", "{out}"]),
        ["export an override without a recipe"] = new(Usage, "--override needs a recipe", ["export", "-o", "model.width=1", "--checkpoint", "{ckpt}", "--out", "{out}"]),
        ["run into a path under a file"] = new(Usage, "{junk} is a file", ["run", "{recipe}", "--out", "{junk}/run"]),
        ["quant mode"] = new(Usage, "--mode 'nosuch'", ["quant", "{recipe}", "--checkpoint", "{ckpt}", "--mode", "nosuch", "--out", "{out}"]),
        ["quant algorithm"] = new(Usage, "--algo 'nosuch'", ["quant", "{recipe}", "--checkpoint", "{ckpt}", "--mode", "post", "--algo", "nosuch", "--out", "{out}"]),
        ["quant no calibration batch"] = new(Usage, "--calibration-batches 0", ["quant", "{recipe}", "--checkpoint", "{ckpt}", "--mode", "post", "--calibration-batches", "0", "--out", "{out}"]),
        ["distill type"] = new(Usage, "--type 'nosuch'", ["distill", "{recipe}", "--checkpoint", "{ckpt}", "--teacher", "baseline", "--type", "nosuch", "--out", "{out}"]),
        ["distill no iteration"] = new(Usage, "--iterations 0", ["distill", "{recipe}", "--checkpoint", "{ckpt}", "--teacher", "{ckpt}", "--iterations", "0", "--out", "{out}"]),
        ["prune without ratios"] = new(Usage, "give --pruned_ratios", ["prune", "--model", "yolov3_mobilenet_v1", "--out", "{out}.ckpt"]),

        // Recipes and overrides: exit 3, the file or key named.
        ["recipe not found"] = new(Invalid, "{dir}/missing.yml: recipe file not found", ["run", "{dir}/missing.yml", "--out", "{out}"]),
        ["recipe is not YAML"] = new(Invalid, "{junk}:1:", ["train", "{junk}", "--out", "{out}"]),
        ["override of the wrong type"] = new(Invalid, "train.batch_size: expected a whole number, got 'abc'", ["train", "{recipe}", "-o", "train.batch_size=abc", "--out", "{out}"]),
        ["override without a value"] = new(Invalid, "-o nonsense: expected -o key=value", ["train", "{recipe}", "-o", "nonsense", "--out", "{out}"]),
        ["override of an unknown key"] = new(Invalid, "model.nme: unknown key (did you mean 'name'?)", ["run", "{recipe}", "-o", "model.nme=x", "--out", "{out}"]),
        ["recipe check of a missing file"] = new(Invalid, "{dir}/missing.yml: recipe file not found", ["recipe", "check", "{dir}/missing.yml"]),

        // Checkpoints.
        ["checkpoint changed on disk"] = new(Invalid, "{corrupt}: checksum mismatch", ["eval", "{recipe}", "--checkpoint", "{corrupt}"]),
        ["checkpoint cut short"] = new(Invalid, "{truncated}: truncated or corrupt checkpoint", ["export", "{recipe}", "--checkpoint", "{truncated}", "--out", "{out}"]),
        ["checkpoint that is not one"] = new(Invalid, "{junk}: not a Slim checkpoint", ["eval", "{recipe}", "--checkpoint", "{junk}"]),
        ["checkpoint missing"] = new(Invalid, "{dir}/missing.ckpt: no such checkpoint", ["eval", "{recipe}", "--checkpoint", "{dir}/missing.ckpt"]),
        ["checkpoint of another architecture"] = new(Invalid, "{resnet}: holds a yolov3_resnet34 model", ["quant", "{recipe}", "--checkpoint", "{resnet}", "--out", "{out}"]),
        ["classifier checkpoint for infer"] = new(Invalid, "{classifier}: holds a mobilenet_v2 (classification) model", ["infer", "--checkpoint", "{classifier}", "--images", "{image}", "--out", "{out}"]),
        ["prune a checkpoint that is not one"] = new(Invalid, "{junk}: not a Slim checkpoint", ["prune", "--checkpoint", "{junk}", "--pruned_ratios", "0.3", "--out", "{out}.ckpt"]),
        ["flops of a truncated checkpoint"] = new(Invalid, "{truncated}: truncated or corrupt checkpoint", ["flops", "--checkpoint", "{truncated}"]),
        ["distill from a missing teacher"] = new(Invalid, "'{dir}/missing.ckpt' is not 'baseline', 'train' or an existing checkpoint", ["distill", "{recipe}", "--checkpoint", "{ckpt}", "--teacher", "{dir}/missing.ckpt", "--out", "{out}"]),
        ["distill from a teacher that is not a checkpoint"] = new(Invalid, "{junk}: not a Slim checkpoint", ["distill", "{recipe}", "--checkpoint", "{ckpt}", "--teacher", "{junk}", "--out", "{out}"]),

        // ONNX models.
        ["eval an ONNX file that is not one"] = new(Invalid, "{junk}: not an ONNX model", ["eval", "{recipe}", "--onnx", "{junk}"]),
        ["eval an ONNX model of another input size"] = new(Invalid, "takes input [N, 3, 64, 64] but the recipe gives [N, 3, 96, 96]", ["eval", "{recipe}", "-o", "model.input_size=96", "--onnx", "{onnx}"]),
        ["verify a missing model"] = new(Invalid, "--fp32: ONNX model not found: {dir}/missing.onnx", ["verify", "{recipe}", "--fp32", "{dir}/missing.onnx", "--baseline-ap", "0.3", "--out", "{out}"]),
        ["verify a checkpoint as ONNX"] = new(Invalid, "{ckpt}: not an ONNX model", ["verify", "{recipe}", "--fp32", "{ckpt}", "--baseline-ap", "0.3", "--out", "{out}"]),
        ["verify a bad INT8 beside a good FP32"] = new(Invalid, "{junk}: not an ONNX model", ["verify", "{recipe}", "--fp32", "{onnx}", "--int8", "{junk}", "--baseline-ap", "0.3", "--out", "{out}"]),
        ["verify a model of another input size"] = new(Invalid, "the fp32 model takes input [N, 3, 64, 64]", ["verify", "{recipe}", "-o", "model.input_size=96", "--fp32", "{onnx}", "--baseline-ap", "0.3", "--out", "{out}"]),
        ["infer with an ONNX file that is not one"] = new(Invalid, "{junk}: not an ONNX model", ["infer", "--onnx", "{junk}", "--images", "{image}", "--out", "{out}"]),

        // Images and annotations.
        ["infer a missing image"] = new(Invalid, "--images: image not found: {dir}/missing.jpg", ["infer", "--checkpoint", "{ckpt}", "--images", "{dir}/missing.jpg", "--out", "{out}"]),
        ["infer a folder without images"] = new(Invalid, "--images: the folder {empty} holds no", ["infer", "--checkpoint", "{ckpt}", "--images", "{empty}", "--out", "{out}"]),
        ["infer a file that is not an image"] = new(Invalid, "--images: Image file '{junk}' is corrupt", ["infer", "--checkpoint", "{ckpt}", "--images", "{image},{junk}", "--out", "{out}"]),
        ["infer a score of 1.5"] = new(Invalid, "--score 1.5", ["infer", "--checkpoint", "{ckpt}", "--images", "{image}", "--score", "1.5", "--out", "{out}"]),
        ["score results that are not JSON"] = new(Invalid, "{junk}: not valid JSON at line 1", ["eval", "--annotations", "{junk}", "--results", "{junk}"]),
        ["score with missing annotations"] = new(Invalid, "{dir}/missing.json: file not found", ["eval", "--annotations", "{dir}/missing.json", "--results", "{junk}"]),
        ["an image of another size than annotated"] = new(Invalid, "is annotated as 1000×80 but the file is 80×80", ["run", "{sized}", "--out", "{out}"]),
        ["recipe check of an image of another size"] = new(Invalid, "is annotated as 1000×80 but the file is 80×80", ["recipe", "check", "{sized}", "--data"]),

        // Pruning and sensitivity options.
        ["sensitivity with two targets"] = new(Invalid, "{twotargets}: stages[0].prune: sensitivity: give one of target_flops_reduction, target_latency_reduction and max_loss", ["run", "{twotargets}", "--out", "{out}"]),
        ["latency table missing"] = new(Invalid, "sensitivity.latency_table '{dir}/missing.json': no such file; write one with slim latency-table", ["run", "{notable}", "--out", "{out}"]),
        ["sensitivity ratio 0"] = new(Invalid, "--ratios: 0 is outside (0, 1)", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--ratios", "0,0.5", "--out", "{out}"]),
        ["sensitivity ratio not a number"] = new(Invalid, "--ratios: 'abc' is not a number", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--ratios", "abc", "--out", "{out}"]),
        ["sensitivity glob matching nothing"] = new(Invalid, "'nomatch.*' matches no parameter", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--params", "nomatch.*", "--out", "{out}"]),
        ["sensitivity FLOPs target over 1"] = new(Invalid, "--target-flops-reduction 1.5", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--target-flops-reduction", "1.5", "--out", "{out}"]),
        ["sensitivity criterion"] = new(Invalid, "unknown pruning criterion 'nosuch'", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--criterion", "nosuch", "--out", "{out}"]),
        ["sensitivity negative image count"] = new(Invalid, "--val-images -3", ["sensitivity", "{recipe}", "--checkpoint", "{ckpt}", "--val-images", "-3", "--out", "{out}"]),
        ["prune ratio count"] = new(Invalid, "--pruned_ratios has 2 ratios but --pruned_params names 18 parameters", ["prune", "{recipe}", "--checkpoint", "{ckpt}", "--pruned_params", "yolo_block.*", "--pruned_ratios", "0.5,0.5", "--out", "{out}"]),
        ["prune ratio 1"] = new(Invalid, "--pruned_ratios: ratio 1 (item 1) is outside [0, 1)", ["prune", "--model", "yolov3_mobilenet_v1", "--pruned_ratios", "1.0", "--out", "{out}.ckpt"]),
        ["prune unknown preset"] = new(Invalid, "'r999' (item 1) is neither a number nor a preset", ["prune", "--model", "yolov3_mobilenet_v1", "--pruned_ratios", "r999", "--out", "{out}.ckpt"]),
        ["prune unknown model"] = new(Invalid, "unknown model 'nosuch'", ["prune", "--model", "nosuch", "--pruned_ratios", "0.3", "--out", "{out}.ckpt"]),
        ["prune width 0"] = new(Invalid, "width = 0: must be in (0, 4]", ["prune", "--model", "yolov3_mobilenet_v1", "--width", "0", "--pruned_ratios", "0.3", "--out", "{out}.ckpt"]),
        ["prune input size 100"] = new(Invalid, "input_size = 100: a detector needs a positive multiple of 32", ["prune", "--model", "yolov3_mobilenet_v1", "--input-size", "100", "--pruned_ratios", "0.3", "--out", "{out}.ckpt"]),
        ["flops input size 33"] = new(Invalid, "--sizes 33: yolov3_mobilenet_v1 is a detector", ["flops", "--model", "yolov3_mobilenet_v1", "--sizes", "33"]),
        ["flops no class"] = new(Invalid, "num_classes = 0: must be at least 1", ["flops", "--model", "yolov3_mobilenet_v1", "--num-classes", "0"]),

        // Quantization and export.
        ["quant pattern matching nothing"] = new(Invalid, "'se_blok' matches no module path", ["quant", "{recipe}", "--checkpoint", "{ckpt}", "--not-quant", "se_blok", "--out", "{out}"]),
        ["export a missing quant folder"] = new(Invalid, "--quant-dir: folder not found: {dir}/missing", ["export", "{recipe}", "--checkpoint", "{ckpt}", "--quant-dir", "{dir}/missing", "--out", "{out}"]),
        ["export a quant folder without a checkpoint"] = new(Invalid, "--quant-dir {empty}: the folder holds no checkpoint", ["export", "{recipe}", "--checkpoint", "{ckpt}", "--quant-dir", "{empty}", "--out", "{out}"]),
        ["export a quant file that is not JSON"] = new(Invalid, "{quantdir}/quant.json: not valid JSON at line 1, column 3", ["export", "{recipe}", "--checkpoint", "{ckpt}", "--twin", "{ckpt}", "--quant-file", "{quantdir}/quant.json", "--out", "{out}"]),
        ["export a missing checkpoint"] = new(Invalid, "{dir}/missing.ckpt: no such checkpoint", ["export", "{recipe}", "--checkpoint", "{dir}/missing.ckpt", "--out", "{out}"]),
        ["export a twin of another model"] = new(Invalid, "are different models (model.width 0.25 vs 0.125)", ["export", "--checkpoint", "{ckpt}", "--twin", "{narrow}", "--quant-file", "{quantdir}/quant.json", "--out", "{out}"]),

        // Pretrained weights and imports.
        ["pretrained weights missing"] = new(Invalid, "model.pretrained: {dir}/missing.ckpt does not exist", ["run", "{recipe}", "-o", "model.pretrained={dir}/missing.ckpt", "--out", "{out}"]),
        ["pretrained of another architecture"] = new(Invalid, "holds a mobilenet_v2 model, not the recipe's yolov3_mobilenet_v1; set model.pretrained_backbone_only", ["train", "{recipe}", "-o", "model.pretrained={classifier}", "--out", "{out}"]),
        ["pretrained backbone of another architecture"] = new(Invalid, "of the model's backbone tensors get no value from the file", ["run", "{recipe}", "-o", "model.pretrained={classifier}", "-o", "model.pretrained_backbone_only=true", "--out", "{out}"]),
        ["pretrained and checkpoint both"] = new(Invalid, "model.checkpoint and model.pretrained both given", ["run", "{recipe}", "-o", "model.pretrained={ckpt}", "-o", "model.checkpoint={ckpt}", "--out", "{out}"]),
        ["import a missing file"] = new(Invalid, "{dir}/missing.pth: weights file not found", ["import", "{dir}/missing.pth", "--model", "resnet18", "--out", "{out}.ckpt"]),
        ["import a file that is no pickle"] = new(Invalid, "{junk}: neither a PyTorch checkpoint", ["import", "{junk}", "--model", "resnet18", "--out", "{out}.ckpt"]),
        ["import without a map"] = new(Usage, "no built-in map from Torch weights to mobilenet_v1", ["import", "{ckpt}", "--format", "torch", "--model", "mobilenet_v1", "--out", "{out}.ckpt"]),
        ["import an unknown format"] = new(Usage, "--format onnx: expected torch or paddle", ["import", "{junk}", "--format", "onnx", "--model", "resnet18", "--out", "{out}.ckpt"]),
        ["import into a folder"] = new(Usage, "--out {empty}: is a folder", ["import", "{junk}", "--model", "resnet18", "--out", "{empty}"]),

        // Folders.
        ["run into a file"] = new(Invalid, "{junk}: is a file; a run needs a folder", ["run", "{recipe}", "--out", "{junk}"]),
        ["run into a folder another process writes"] = new(Invalid, "is being written by another slim process (pid", ["run", "{recipe}", "--out", "{locked}"], HoldLock: true),
        ["train into a folder another process writes"] = new(Invalid, "is being written by another slim process (pid", ["train", "{recipe}", "--out", "{locked}"], HoldLock: true),
        ["generate into an existing folder"] = new(Invalid, "output folder '{empty}' already exists", ["dataset", "generate", "--out", "{empty}"]),
        ["generate images too small"] = new(Invalid, "(image_size, --image-size) must be at least 32 pixels", ["dataset", "generate", "--out", "{out}", "--image-size", "16"]),
        ["generate a validation share of 1.5"] = new(Invalid, "(--val-fraction) must be in [0, 1), got 1.5", ["dataset", "generate", "--out", "{out}", "--val-fraction", "1.5"]),
    };

    public static IEnumerable<object[]> Names() => Cases.Keys.Select(k => new object[] { k });

    [Fact]
    public void TheCorpusHoldsAtLeastSixtyBadInputs()
    {
        int recipes = RunCommandTests.BrokenRecipes().Count();
        Assert.True(Cases.Count + recipes >= 60, $"{Cases.Count} command lines + {recipes} recipes");
        Assert.Contains(Cases.Values, c => c.Code == Usage);
        Assert.Contains(Cases.Values, c => c.Code == Invalid);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void IsRefusedWithOneLineNamingTheCulpritAndLeavesNothing(string name)
    {
        var c = Cases[name];
        var outPath = Path.Combine(Path.GetTempPath(), $"slim-bad-{Guid.NewGuid():N}");
        string Fill(string s) => s.Replace("{recipe}", fx.Recipe).Replace("{sized}", fx.SizedRecipe).Replace("{twotargets}", fx.TwoTargetsRecipe).Replace("{notable}", fx.NoTableRecipe).Replace("{ckpt}", fx.Checkpoint)
            .Replace("{onnx}", fx.Onnx).Replace("{image}", fx.Image).Replace("{junk}", fx.Junk).Replace("{corrupt}", fx.Corrupt)
            .Replace("{truncated}", fx.Truncated).Replace("{resnet}", fx.Resnet).Replace("{narrow}", fx.Narrow)
            .Replace("{classifier}", fx.Classifier).Replace("{empty}", fx.Empty).Replace("{locked}", fx.Locked)
            .Replace("{quantdir}", fx.QuantDir).Replace("{dir}", fx.Dir).Replace("{out}", outPath);
        var args = c.Args.Select(Fill).ToArray();

        using var held = c.HoldLock ? RunLock.Acquire(fx.Locked) : null;
        var before = Snapshot(fx.Dir);
        var cwdBefore = Directory.EnumerateFileSystemEntries(Environment.CurrentDirectory).Order().ToList();
        var (code, stderr) = RunCommandTests.Run(args);

        Assert.True(code == (int)c.Code, $"{name}: exit {code}, expected {(int)c.Code}: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("slim: error: ", StringComparison.Ordinal), $"{name}: expected one error line, got:\n{stderr}");
        Assert.True(lines[0].Contains(Fill(c.Culprit), StringComparison.Ordinal), $"{name}: '{Fill(c.Culprit)}' not in: {lines[0]}");
        Assert.False(Directory.Exists(outPath) || File.Exists(outPath) || File.Exists(outPath + ".ckpt"), $"{name}: {outPath} was written");
        Assert.Equal(before, Snapshot(fx.Dir));
        Assert.Equal(cwdBefore, Directory.EnumerateFileSystemEntries(Environment.CurrentDirectory).Order().ToList());
    }

    // Every file and folder under root with its size and modification time: equal before and after means nothing was written.
    private static List<string> Snapshot(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length} {File.GetLastWriteTimeUtc(p):O}" : p + "/").ToList();
}
