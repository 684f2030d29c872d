using System.Text.Json.Serialization;
using Inference.Worker.Ollama;
using Inference.Worker.Scheduling;
using Microsoft.AspNetCore.Http.HttpResults;
using TeeAspire.OpenAi;

namespace Inference.Worker.Apis;

public sealed record ModelObject(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy);

public sealed record ModelList(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("data")] IReadOnlyList<ModelObject> Data);

public static class InferenceApi
{
    // A fixed creation time: the catalog's ids are stable, and clients sort by it.
    private const long CatalogCreated = 1737504000; // 2025-01-22, DeepSeek-R1's release

    public static IEndpointRouteBuilder MapInferenceApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/chat/completions", (HttpContext context, ChatEndpoint chat) => chat.HandleAsync(context));
        v1.MapGet("/models", ListModels);
        v1.MapGet("/models/{id}", GetModel);
        return app;
    }

    /// <summary>The models ready now (present, accepted by the pins); in the first moments after start it waits, bounded, for the backends' first listing.</summary>
    public static async Task<Ok<ModelList>> ListModels(ModelCatalog catalog, BackendPool pool, CancellationToken cancellationToken)
    {
        await pool.WhenProbedAsync(cancellationToken);
        var served = pool.ServedModels();
        var data = catalog.Aliases
            .Where(a => served.Contains(a.Value))
            .OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => Model(a.Key))
            .ToList();
        return TypedResults.Ok(new ModelList("list", data));
    }

    public static async Task<IResult> GetModel(string id, ModelCatalog catalog, BackendPool pool, CancellationToken cancellationToken)
    {
        await pool.WhenProbedAsync(cancellationToken);
        return catalog.Resolve(id) is { } model && pool.ServedModels().Contains(model)
            ? TypedResults.Ok(Model(id))
            : OpenAiErrors.ModelNotFound(id);
    }

    private static ModelObject Model(string id) => new(id, "model", CatalogCreated, "teeaspire");
}
