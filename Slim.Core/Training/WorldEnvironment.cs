using System.Globalization;
using System.Net;
using Slim.Torch;

namespace Slim.Training;

/// <summary>
/// Where this process stands in a multi-process run, as torchrun (and Slim's own launcher) tell a worker through the
/// environment: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
/// </summary>
public sealed record WorldEnvironment(int Rank, int WorldSize, int LocalRank, int LocalWorldSize, string MasterAddr, int MasterPort)
{
    /// <summary>The variables a launcher sets, in the order they are described.</summary>
    public static readonly IReadOnlyList<string> Variables = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"];

    /// <summary>
    /// The world this process was started in, or null when it runs alone (WORLD_SIZE unset or 1). Malformed or missing
    /// variables are an error naming the variable.
    /// </summary>
    public static WorldEnvironment? Read(Func<string, string?>? get = null)
    {
        get ??= Environment.GetEnvironmentVariable;
        var worldText = get("WORLD_SIZE");
        if (string.IsNullOrEmpty(worldText)) return null;
        int world = Number("WORLD_SIZE", worldText, 1, 1 << 20);
        if (world == 1) return null;
        int Required(string name, int min, int max) =>
            get(name) is { Length: > 0 } v ? Number(name, v, min, max)
                : throw new SlimException($"environment: WORLD_SIZE is {world} but {name} is not set; a launcher sets {string.Join(", ", Variables)} (slim … --nproc-per-node N does)");
        int rank = Required("RANK", 0, world - 1);
        int localRank = get("LOCAL_RANK") is { Length: > 0 } lr ? Number("LOCAL_RANK", lr, 0, world - 1) : rank;
        int localWorld = get("LOCAL_WORLD_SIZE") is { Length: > 0 } lw ? Number("LOCAL_WORLD_SIZE", lw, 1, world) : world;
        var addr = get("MASTER_ADDR") is { Length: > 0 } a ? a
            : throw new SlimException($"environment: WORLD_SIZE is {world} but MASTER_ADDR is not set; a launcher sets {string.Join(", ", Variables)} (slim … --nproc-per-node N does)");
        int port = Required("MASTER_PORT", 1, 65535);
        return new WorldEnvironment(rank, world, localRank, localWorld, addr, port);
    }

    private static int Number(string name, string text, int min, int max)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new SlimException($"environment: {name}={text}: expected a whole number {min}…{max}");
        return v;
    }

    /// <summary>Whether every rank runs on this host (the master is a loopback address).</summary>
    public bool SingleHost => MasterAddr is "localhost" || (IPAddress.TryParse(MasterAddr, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>
    /// Joins the group over Gloo at MASTER_ADDR:MASTER_PORT (rank 0 serves the rendezvous there). Across hosts each
    /// rank is reached at its host name (SLIM_GLOO_HOST overrides, e.g. with the address of a fast network).
    /// </summary>
    public ProcessGroup Join(TimeSpan? timeout = null)
    {
        var host = Environment.GetEnvironmentVariable("SLIM_GLOO_HOST") is { Length: > 0 } h ? h
            : SingleHost ? "127.0.0.1" : Dns.GetHostName();
        try
        {
            return torch.distributed.init_process_group("gloo", $"tcp://{MasterAddr}:{MasterPort}", Rank, WorldSize, timeout ?? TimeSpan.FromMinutes(30), host);
        }
        catch (TorchException e)
        {
            throw new SlimException($"rank {Rank} of {WorldSize}: could not join the group at {MasterAddr}:{MasterPort}: {e.Message}");
        }
    }
}
