using System.Threading.Channels;

namespace Inference.Worker.Usage;

/// <summary>
/// Completion records (usage and signature) that could not be stored (Redis away) wait here and
/// are retried, so tokens spent and answers signed during an outage still reach Redis once it is
/// back. Bounded: beyond <see cref="Capacity"/> pending records the oldest are dropped.
/// </summary>
public sealed partial class UsageRetry(ICompletionRecorder recorder, ILogger<UsageRetry> logger) : BackgroundService
{
    public const int Capacity = 100_000;

    private readonly Channel<CompletionRecord> _pending = Channel.CreateBounded<CompletionRecord>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest });

    public void Enqueue(CompletionRecord record) => _pending.Writer.TryWrite(record);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _pending.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_pending.Reader.TryPeek(out var record))
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await recorder.RecordAsync(record, timeout.Token);
                    _pending.Reader.TryRead(out _);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogStillFailing(_pending.Reader.Count, e.GetType().Name);
                    await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} completion records (usage, signatures) wait for Redis ({Error}); retrying")]
    private partial void LogStillFailing(int count, string error);
}
