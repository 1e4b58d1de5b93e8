using System.Net;
using System.Net.Sockets;
using Slim.Torch;
using static Slim.Torch.torch;

namespace Slim.Core.Tests.Torch;

/// <summary>
/// Several Gloo ranks in one test process: each rank a thread with its own group membership, meeting at a file or a TCP
/// rendezvous exactly as separate processes would.
/// </summary>
internal static class Ranks
{
    /// <summary>Runs body on <paramref name="world"/> ranks at once and returns what each returned, in rank order.</summary>
    public static T[] OnRanks<T>(int world, string initMethod, Func<ProcessGroup, T> body)
    {
        Assert.True(distributed.is_available("gloo"), "libslimnative was built without Gloo: install libgloo-dev (build.sh does) and rebuild");
        var results = new T[world];
        var errors = new Exception?[world];
        var threads = Enumerable.Range(0, world).Select(r => new Thread(() =>
        {
            try
            {
                using var group = distributed.init_process_group("gloo", initMethod, r, world, TimeSpan.FromSeconds(60));
                results[r] = body(group);
            }
            catch (Exception e) { errors[r] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (errors.FirstOrDefault(e => e is not null) is { } first) throw new AggregateException(first);
        return results;
    }

    /// <summary>A TCP port free on loopback just now.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
