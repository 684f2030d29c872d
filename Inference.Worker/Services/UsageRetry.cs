using System.Threading.Channels;

namespace Inference.Worker.Services;

/// <summary>
/// Usage that could not be recorded (Redis away) waits here and is retried, so tokens spent during
/// an outage still reach the key's counters and budget once Redis is back. Bounded: beyond
/// <see cref="Capacity"/> pending records the oldest are dropped (and counted in the log).
/// </summary>
public sealed partial class UsageRetry(IUsageRecorder recorder, ILogger<UsageRetry> logger) : BackgroundService
{
    public const int Capacity = 100_000;

    private readonly Channel<CompletionUsage> _pending = Channel.CreateBounded<CompletionUsage>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest });

    public void Enqueue(CompletionUsage usage) => _pending.Writer.TryWrite(usage);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (await _pending.Reader.WaitToReadAsync(stoppingToken))
        {
            while (_pending.Reader.TryPeek(out var usage))
            {
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(TimeSpan.FromSeconds(5));
                    await recorder.RecordAsync(usage, timeout.Token);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} usage records wait for Redis ({Error}); retrying")]
    private partial void LogStillFailing(int count, string error);
}
