using Inference.Worker.Model;
using Inference.Worker.Signing;
using Inference.Worker.Usage;

namespace Inference.Worker.Responses;

/// <param name="Signature">set for a non-stream answer (signed before its body was sent)</param>
public sealed record CompletionResult(string Outcome, int PromptTokens, int CompletionTokens, string? ResponseSha256, SignedAnswer? Signature = null);

/// <summary>
/// The last step of every completion, stream or not: the answer is signed here (a non-stream one
/// before its body is sent, through <see cref="Sign"/>; a stream after its last byte) and its usage
/// and signature are recorded, or queued for retry while Redis is away.
/// </summary>
public sealed partial class CompletionFinisher(
    AnswerSigner signer,
    ICompletionRecorder recorder,
    UsageRetry usageRetry,
    WorkerTelemetry telemetry,
    ILogger<CompletionFinisher> logger)
{
    public SignedAnswer Sign(Call call, string responseSha256) =>
        signer.Sign(call.Id, call.Created, call.RequestSha256, responseSha256, call.Nonce);

    public async Task FinishAsync(HttpContext context, Call call, CompletionResult result, CancellationToken ct)
    {
        // The client has every byte: end its response before usage and signature bookkeeping.
        if (!ct.IsCancellationRequested) await context.Response.CompleteAsync();
        telemetry.Outcomes.Add(1, new KeyValuePair<string, object?>("outcome", result.Outcome));
        telemetry.Tokens.Add(result.PromptTokens, new KeyValuePair<string, object?>("type", "prompt"), new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
        telemetry.Tokens.Add(result.CompletionTokens, new KeyValuePair<string, object?>("type", "completion"), new KeyValuePair<string, object?>(TeeTelemetry.ModelAttribute, call.Request.Model));
        // Usage and signatures are recorded even if the client went away: the tokens were spent.
        var signature = result.Signature;
        if (signature is null && call.Request.Stream && result.ResponseSha256 is { } digest)
            signature = Sign(call, digest);
        await RecordAsync(new CompletionRecord(call.Id, call.Created, call.KeyId, call.Request.Model, result.PromptTokens, result.CompletionTokens, call.Nonce, signature, call.ReservedTokens));
    }

    /// <summary>A request that reached no backend: what its admission reserved goes back to the key's budget.</summary>
    public Task RefundAsync(string keyId, long reservedTokens) =>
        reservedTokens > 0 ? RecordAsync(CompletionRecord.Refund(keyId, reservedTokens)) : Task.CompletedTask;

    private async Task RecordAsync(CompletionRecord record)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await recorder.RecordAsync(record, timeout.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || timeout.IsCancellationRequested)
        {
            LogRecordFailed(e.GetType().Name);
            usageRetry.Enqueue(record);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording usage and signature failed ({Error}); queued for retry")]
    private partial void LogRecordFailed(string error);
}
