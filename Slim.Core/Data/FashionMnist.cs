using System.IO.Compression;

namespace Slim.Data;

/// <summary>Fashion-MNIST in memory: 28x28 grayscale images and their labels.</summary>
/// <param name="Images">Count*Rows*Cols bytes, image after image, row-major.</param>
/// <param name="Labels">Count labels, 0-9 (index into <see cref="FashionMnist.ClassNames"/>).</param>
/// <param name="Rows">Image height (28).</param>
/// <param name="Cols">Image width (28).</param>
public sealed record FashionMnistData(byte[] Images, byte[] Labels, int Rows, int Cols) : ILabeledImages
{
    /// <inheritdoc/>
    public int LabelOf(int i) => Labels[i];

    /// <summary>The first n images: Fashion-MNIST's files are shuffled, so a prefix is close to class-balanced.</summary>
    public ILabeledImages Take(int n)
    {
        if (n <= 0 || n >= Count) return this;
        int plane = Rows * Cols;
        return new FashionMnistData(Images.AsSpan(0, n * plane).ToArray(), Labels.AsSpan(0, n).ToArray(), Rows, Cols);
    }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Image <paramref name="i"/> as a one-channel <see cref="Image"/> (a copy).</summary>
    public Image GetImage(int i)
    {
        if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(i), i, $"index must be in [0, {Count})");
        var px = new byte[Rows * Cols];
        Array.Copy(Images, (long)i * px.Length, px, 0, px.Length);
        return new Image(Cols, Rows, 1, px);
    }
}

/// <summary>Reads the Fashion-MNIST idx files (gzip-compressed or not).</summary>
public static class FashionMnist
{
    /// <summary>Where Debian's dataset-fashion-mnist package installs the files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten class names, by label.</summary>
    public static readonly IReadOnlyList<string> ClassNames = new[]
    {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };

    /// <summary>True when both files of <paramref name="split"/> are present in <paramref name="directory"/>.</summary>
    public static bool IsAvailable(string directory = DefaultDirectory, FashionMnistSplit split = FashionMnistSplit.Test) =>
        FindFile(directory, Prefix(split) + "-images-idx3-ubyte") is not null && FindFile(directory, Prefix(split) + "-labels-idx1-ubyte") is not null;

    /// <summary>
    /// Reads a split from <paramref name="directory"/>: train-images-idx3-ubyte(.gz) and
    /// train-labels-idx1-ubyte(.gz), or the t10k-* pair for <see cref="FashionMnistSplit.Test"/>.
    /// </summary>
    /// <exception cref="DatasetException">A file is missing, truncated or not an idx file of the right kind.</exception>
    public static FashionMnistData Load(string directory = DefaultDirectory, FashionMnistSplit split = FashionMnistSplit.Train)
    {
        var prefix = Prefix(split);
        var imagesFile = Require(directory, prefix + "-images-idx3-ubyte");
        var labelsFile = Require(directory, prefix + "-labels-idx1-ubyte");
        var (images, idims) = ReadIdx(imagesFile, 2051, 3);
        var (labels, ldims) = ReadIdx(labelsFile, 2049, 1);
        if (idims[0] != ldims[0])
            throw new DatasetException(labelsFile, $"Fashion-MNIST: '{imagesFile}' has {idims[0]} images but '{labelsFile}' has {ldims[0]} labels.");
        var bad = Array.FindIndex(labels, l => l >= ClassNames.Count);
        if (bad >= 0) throw new DatasetException(labelsFile, $"Fashion-MNIST labels file '{labelsFile}': label {labels[bad]} at index {bad} is not in 0-9.");
        return new FashionMnistData(images, labels, idims[1], idims[2]);
    }

    private static string Prefix(FashionMnistSplit split) => split == FashionMnistSplit.Train ? "train" : "t10k";

    private static string? FindFile(string dir, string name)
    {
        foreach (var candidate in new[] { Path.Combine(dir, name + ".gz"), Path.Combine(dir, name) })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    private static string Require(string dir, string name) =>
        FindFile(dir, name) ?? throw new DatasetException(Path.Combine(dir, name + ".gz"),
            $"Fashion-MNIST file '{Path.Combine(dir, name + ".gz")}' (or without .gz) does not exist; on Debian install the package dataset-fashion-mnist.");

    /// <summary>Reads an idx file: big-endian magic (0x0000 0x08 ndim), ndim big-endian sizes, then unsigned bytes.</summary>
    internal static (byte[] Data, int[] Dims) ReadIdx(string path, int expectedMagic, int expectedDims)
    {
        try
        {
            using var file = File.OpenRead(path);
            using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
            var magic = ReadInt32BigEndian(s, path);
            if (magic != expectedMagic)
                throw new DatasetException(path, $"Fashion-MNIST file '{path}' has magic number {magic}, expected {expectedMagic} (an idx file of unsigned bytes with {expectedDims} dimension(s)).");
            var dims = new int[expectedDims];
            long total = 1;
            for (int i = 0; i < expectedDims; i++)
            {
                dims[i] = ReadInt32BigEndian(s, path);
                if (dims[i] <= 0) throw new DatasetException(path, $"Fashion-MNIST file '{path}' declares dimension {i} of size {dims[i]}.");
                total *= dims[i];
            }
            var data = new byte[total];
            int read = 0;
            while (read < data.Length)
            {
                int n = s.Read(data, read, data.Length - read);
                if (n == 0) throw new DatasetException(path, $"Fashion-MNIST file '{path}' is truncated: {read} of {total} data bytes present.");
                read += n;
            }
            return (data, dims);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetException(path, $"Fashion-MNIST file '{path}' is not valid gzip: {e.Message}", e);
        }
    }

    private static int ReadInt32BigEndian(Stream s, string path)
    {
        Span<byte> b = stackalloc byte[4];
        int got = 0;
        while (got < 4)
        {
            int n = s.Read(b[got..]);
            if (n == 0) throw new DatasetException(path, $"Fashion-MNIST file '{path}' is truncated in its header.");
            got += n;
        }
        return System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b);
    }
}

/// <summary>Which Fashion-MNIST split to read.</summary>
public enum FashionMnistSplit
{
    /// <summary>60,000 training images (train-*).</summary>
    Train,
    /// <summary>10,000 test images (t10k-*).</summary>
    Test,
}
