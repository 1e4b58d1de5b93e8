namespace Slim.Data;

/// <summary>
/// Prepares items start..count-1 on background threads and yields them in index order. At most
/// <c>capacity</c> items are prepared ahead of the consumer (a bounded queue), so memory stays flat.
/// What an item contains depends only on its index (the prepare function must be pure in that
/// sense), so the output is the same whatever the thread timing. An exception thrown while
/// preparing an item is rethrown to the consumer when it reaches that item.
/// </summary>
internal static class OrderedPrefetcher
{
    public static IEnumerable<T> Run<T>(int start, int count, Func<int, T> prepare, int workers, int capacity, CancellationToken token)
    {
        if (start >= count) yield break;
        if (workers <= 0)
        {
            for (int i = start; i < count; i++)
            {
                token.ThrowIfCancellationRequested();
                yield return prepare(i);
            }
            yield break;
        }

        var slots = new TaskCompletionSource<T>[count - start];
        for (int i = 0; i < slots.Length; i++) slots[i] = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        using var room = new SemaphoreSlim(Math.Max(1, capacity));
        int next = start - 1;
        var threads = new Thread[Math.Min(workers, count - start)];
        for (int w = 0; w < threads.Length; w++)
        {
            threads[w] = new Thread(() =>
            {
                while (true)
                {
                    try { room.Wait(cts.Token); }
                    catch (OperationCanceledException) { return; }
                    int i = Interlocked.Increment(ref next);
                    if (i >= count) return;
                    try { slots[i - start].SetResult(prepare(i)); }
                    catch (Exception e) { slots[i - start].SetException(e); }
                }
            }) { IsBackground = true, Name = $"slim-data-{w}" };
            threads[w].Start();
        }
        try
        {
            for (int i = start; i < count; i++)
            {
                var task = slots[i - start].Task;
                try { task.Wait(cts.Token); }
                catch (AggregateException e) when (e.InnerExceptions.Count == 1)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException!).Throw();
                }
                room.Release();
                yield return task.Result;
            }
        }
        finally
        {
            // Stop the workers before the semaphore and token source are disposed.
            cts.Cancel();
            foreach (var t in threads) t.Join();
        }
    }
}
