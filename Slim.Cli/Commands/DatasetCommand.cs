using System.CommandLine;
using Slim.Data;

namespace Slim.Cli.Commands;

/// <summary>`slim dataset generate`: write the offline synthetic detection dataset (COCO and VOC layouts).</summary>
public static class DatasetCommand
{
    public static Command Create()
    {
        var cmd = new Command("dataset", "Generate or inspect datasets.");
        var outDir = new Option<string>("--out") { Description = "Folder to create (must not exist).", Required = true };
        var images = new Option<int>("--images") { Description = "Number of images (train + val).", DefaultValueFactory = _ => 500 };
        var size = new Option<int>("--image-size") { Description = "Image side in pixels.", DefaultValueFactory = _ => 160 };
        var seed = new Option<int>("--seed") { Description = "Generator seed (same seed, same files).", DefaultValueFactory = _ => 0 };
        var val = new Option<double>("--val-fraction") { Description = "Fraction of images in the validation split.", DefaultValueFactory = _ => 0.2 };
        var shapes = new Option<bool>("--shapes") { Description = "Draw shapes instead of Fashion-MNIST items." };
        var masks = new Option<bool>("--masks") { Description = "Also write segmentation labels: a label PNG per image (0 background, class k as k + 1) and segmentation/{train,val}.txt lists." };
        var generate = new Command("generate", """
            Write a detection dataset made offline: Fashion-MNIST items (or drawn shapes) pasted at random
            scales and positions on textured backgrounds, in both COCO and Pascal VOC layouts; with --masks also
            the per-pixel labels of each image (PaddleSeg's plain layout under segmentation/).

            Examples:
              slim dataset generate --out datasets/generated/demo --images 500 --image-size 160 --seed 0
              slim dataset generate --out datasets/generated/seg --images 200 --masks
            """);
        foreach (var o in new Option[] { outDir, images, size, seed, val, shapes, masks }) generate.Options.Add(o);
        generate.SetAction(p => CliRunner.Run(() =>
        {
            var r = SyntheticDetectionGenerator.Generate(new SyntheticDetectionOptions
            {
                OutputDir = p.GetValue(outDir)!,
                ImageCount = p.GetValue(images),
                ImageSize = p.GetValue(size),
                Seed = p.GetValue(seed),
                ValFraction = p.GetValue(val),
                ForceShapes = p.GetValue(shapes),
                Masks = p.GetValue(masks),
            }, Console.Error.WriteLine);
            Console.Out.WriteLine($"wrote {p.GetValue(images)} images ({string.Join(", ", r.ClassNames)}) to {r.OutputDir}");
            Console.Out.WriteLine($"  COCO: {r.CocoAnnotations("train")}, {r.CocoAnnotations("val")}, images in {r.CocoImages}");
            Console.Out.WriteLine($"  VOC:  {r.VocDir}");
            if (p.GetValue(masks))
                Console.Out.WriteLine($"  segmentation: {Path.Combine(r.OutputDir, "segmentation")} (train.txt, val.txt: image and label paths from the dataset root; labels.txt)");
            return ExitCode.Ok;
        }));
        cmd.Subcommands.Add(generate);
        return cmd;
    }
}
