using TeeAspire.AppHost;

var builder = DistributedApplication.CreateBuilder(args);

// `aspire publish` / `aspire deploy` write a Docker Compose file for the TDX VM.
builder.AddDockerComposeEnvironment("tee-vm")
    .WithDashboard(false)
    // A fixed subnet, so the gateway knows the address cloudflared's connections come from (GatewayEdge).
    .ConfigureComposeFile(GatewayEdge.PinComposeNetwork);

// Secrets are parameters: `Parameters:master-key` in user secrets for `dotnet run`, and the
// generated .env for the compose deployment. Nothing is hard-coded.
var masterKey = builder.AddParameter("master-key", secret: true);
var internalToken = builder.AddParameter("internal-token", secret: true);
// GPU is opt-in (`Parameters:ollama-gpu=true`), for a GPU TEE size later.
builder.AddParameter("ollama-gpu", "false", publishValueAsDefault: true);

// API keys, signatures and usage live in Redis, so it persists to a volume.
var redis = builder.AddRedis("redis")
    .WithImageTag(ImageTags.Redis)
    .WithDataVolume("teeaspire-redis-data")
    .WithPersistence(TimeSpan.FromSeconds(10), keysChangedThreshold: 1)
    .PublishAsDockerComposeService((_, service) => service.Restart = "unless-stopped");

var ollama = builder.AddOllama("ollama")
    .WithImageTag(ImageTags.Ollama)
    .WithDataVolume("teeaspire-ollama-models")
    .WithEnvironment("OLLAMA_NUM_PARALLEL", OllamaSettings.NumParallel.ToString())
    .WithEnvironment("OLLAMA_MAX_QUEUE", OllamaSettings.MaxQueue.ToString())
    .PublishAsDockerComposeService((_, service) => service.Restart = "unless-stopped");
if (bool.TryParse(builder.Configuration["Parameters:ollama-gpu"], out var gpu) && gpu)
{
    ollama.WithGPUSupport(OllamaGpuVendor.Nvidia);
}

var r1Small = ollama.AddModel("deepseek-r1-1-5b", "deepseek-r1:1.5b");
var r1Large = ollama.AddModel("deepseek-r1-7b", "deepseek-r1:7b");

// The services have no launch profile and no Kestrel config, so Aspire gives them no endpoint of their
// own: each declares its "http" endpoint (container port 8080 when published, as their images listen;
// allocated under `dotnet run`). Without it WithHttpHealthCheck finds no endpoint and WithReference
// hands the callers no address.
var publish = builder.ExecutionContext.IsPublishMode;
int? ServicePort() => publish ? 8080 : null;

var attestation = builder.AddProject<Projects.Attestation_Api>("attestation")
    .WithHttpEndpoint(targetPort: ServicePort(), name: "http")
    .WithReference(redis).WaitFor(redis)
    .WithEnvironment("Attestation__InternalToken", internalToken)
    .WithEnvironment("Attestation__AppEventLog", "/run/tee-aspire/app-event-log.jsonl")
    .WithHttpHealthCheck("/health")
    // Published from Attestation.Api/Dockerfile (it adds tpm2-tools), built from source: PublishAsDockerFile
    // alone would take the project folder as the build context, which lacks the projects it references, so
    // the context is the repository root (relative to this folder) and the Dockerfile path is relative to it.
    // The compose service gets the TEE devices.
    .PublishAsDockerFile(container => container
        .WithDockerfile(contextPath: "..", dockerfilePath: "Attestation.Api/Dockerfile")
        .PublishAsDockerComposeService((_, service) => AttestationContainer.GrantTeeAccess(service)));

var worker = builder.AddProject<Projects.Inference_Worker>("inference-worker")
    .WithHttpEndpoint(targetPort: ServicePort(), name: "http")
    .WithReference(redis).WaitFor(redis)
    .WithReference(r1Small).WaitFor(r1Small)
    .WithReference(r1Large).WaitFor(r1Large)
    .WithReference(attestation).WaitFor(attestation)
    .WithEnvironment("Inference__DefaultSlots", OllamaSettings.NumParallel.ToString())
    .WithEnvironment("Attestation__InternalToken", internalToken)
    .WithHttpHealthCheck("/health")
    .PublishAsDockerComposeService((_, service) => service.Restart = "unless-stopped");

// Gateway.Api has no launch profile and no Kestrel config, so Aspire gives it no endpoint of its own:
// both are declared here. Published, the public one is 8080:8080 (the tunnel's target, GatewayEdge);
// under `dotnet run` its ports are allocated as usual.
var gateway = builder.AddProject<Projects.Gateway_Api>("gateway")
    .WithHttpEndpoint(port: publish ? GatewayEdge.PublicPort : null, targetPort: publish ? GatewayEdge.PublicPort : null, name: "http")
    // External: only the public endpoint. The admin endpoint is added after this call, so it stays internal.
    .WithExternalHttpEndpoints()
    // The admin listener: no `env:` (that would keep it out of HTTP_PORTS / ASPNETCORE_URLS); its target
    // port goes to Gateway:AdminPort below.
    .WithHttpEndpoint(targetPort: GatewayEdge.AdminPort, name: GatewayEdge.AdminEndpoint);
gateway
    .WithReference(redis).WaitFor(redis)
    .WithReference(worker).WaitFor(worker)
    .WithReference(attestation).WaitFor(attestation)
    .WithEnvironment("TEE_MASTER_KEY", masterKey)
    .WithEnvironment("Gateway__AdminPort", gateway.GetEndpoint(GatewayEdge.AdminEndpoint).Property(EndpointProperty.TargetPort))
    // The only proxy whose CF-Connecting-IP / X-Forwarded-For count is cloudflared, and on the VM its
    // connections reach the container from the compose bridge's gateway address (GatewayEdge). Not a
    // CIDR of the subnet: the other containers live there and must not pick a client's address.
    .WithEnvironment("Gateway__TrustedProxies__0", GatewayEdge.ComposeBridgeGateway)
    // Published, Aspire sets ASPNETCORE_FORWARDEDHEADERS_ENABLED=true, which makes ASP.NET Core take
    // X-Forwarded-For from any peer before our middleware runs: a caller could choose its per-IP
    // partition (also the master-key throttle). Gateway.Api's ClientAddress does it for trusted peers only.
    .DisableForwardedHeaders()
    .WithHttpHealthCheck("/health", endpointName: "http")
    .PublishAsDockerComposeService((_, service) =>
    {
        service.Restart = "unless-stopped";
        GatewayEdge.PublishAdminOnLoopback(service);
    });

builder.Build().Run();
