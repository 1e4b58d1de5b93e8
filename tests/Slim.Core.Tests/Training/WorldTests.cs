using Slim.Data;
using Slim.Training;

namespace Slim.Core.Tests.Training;

/// <summary>The launcher's environment and the split of each batch between the ranks.</summary>
public class WorldTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        k => vars.FirstOrDefault(v => v.Key == k).Value;

    [Fact]
    public void TorchrunsVariablesPlaceTheProcess()
    {
        Assert.Null(WorldEnvironment.Read(Env()));
        Assert.Null(WorldEnvironment.Read(Env(("WORLD_SIZE", "1"), ("RANK", "0"))));
        var w = WorldEnvironment.Read(Env(("WORLD_SIZE", "4"), ("RANK", "3"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "2"),
            ("MASTER_ADDR", "10.0.0.5"), ("MASTER_PORT", "29500")))!;
        Assert.Equal(new WorldEnvironment(3, 4, 1, 2, "10.0.0.5", 29500), w);
        Assert.False(w.SingleHost);
        Assert.True(WorldEnvironment.Read(Env(("WORLD_SIZE", "2"), ("RANK", "0"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "1")))!.SingleHost);
    }

    [Theory]
    [InlineData("RANK", "2", "environment: RANK=2: expected a whole number 0…1")]
    [InlineData("WORLD_SIZE", "two", "environment: WORLD_SIZE=two: expected a whole number 1…1048576")]
    [InlineData("MASTER_PORT", "70000", "environment: MASTER_PORT=70000: expected a whole number 1…65535")]
    [InlineData("MASTER_ADDR", "", "environment: WORLD_SIZE is 2 but MASTER_ADDR is not set; a launcher sets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (slim … --nproc-per-node N does)")]
    public void AMalformedVariableIsNamed(string key, string value, string message)
    {
        var vars = new Dictionary<string, string> { ["WORLD_SIZE"] = "2", ["RANK"] = "1", ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = "29500" };
        vars[key] = value;
        Assert.Equal(message, Assert.Throws<SlimException>(() => WorldEnvironment.Read(k => vars.GetValueOrDefault(k))).Message);
    }

    [Fact]
    public void TheSharesOfABatchAreDisjointAndMakeUpTheBatch()
    {
        for (int count = 1; count <= 4; count++)
        {
            var covered = new List<int>();
            for (int r = 0; r < count; r++)
            {
                var (from, n) = DataShard.Positions(new DataShard(r, count), batchIndex: 3, batchSize: 8, total: 100, train: true);
                covered.AddRange(Enumerable.Range(from, n));
            }
            Assert.Equal(Enumerable.Range(24, 8), covered);
        }
        // Evaluation batches are never split; no shard is the whole batch.
        Assert.Equal((24, 8), DataShard.Positions(new DataShard(1, 2), 3, 8, 100, train: false));
        Assert.Equal((96, 4), DataShard.Positions(null, 12, 8, 100, train: true));
        Assert.Null(DataShard.CheckBatchSize(8, 2));
        Assert.Equal("train.batch_size 6 does not split evenly over 4 processes: use a multiple of 4 (each process takes batch_size / 4 images)", DataShard.CheckBatchSize(6, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataShard(2, 2));
    }
}
