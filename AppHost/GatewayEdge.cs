using Aspire.Hosting.Docker.Resources;
using Aspire.Hosting.Docker.Resources.ComposeNodes;
using Aspire.Hosting.Docker.Resources.ServiceNodes;

namespace TeeAspire.AppHost;

/// <summary>
/// The gateway's two listeners and the address its proxy connects from, on the TDX VM.
/// <para>
/// Public: endpoint "http", container port 8080, published on host port 8080. cloudflared runs on the
/// host (deploy/cloud-init.yaml) and its tunnel ingress is <c>http://127.0.0.1:8080</c>.
/// </para>
/// <para>
/// Admin: endpoint "admin", container port 8081, never external. Aspire lists it in the project's
/// Kestrel ports (<c>HTTP_PORTS</c> when published, <c>ASPNETCORE_URLS</c> under <c>dotnet run</c>) because
/// it is declared without <c>env:</c> — an endpoint with <c>env:</c> is left out of both
/// (<c>ProjectResource.ShouldInjectEndpointEnvironment</c>), so Kestrel would not listen on it — and its
/// target port is handed to <c>Gateway__AdminPort</c>, so <c>/admin/*</c> answers there and nowhere else.
/// In the compose file it is published on the VM's loopback only (<see cref="PublishAdminOnLoopback"/>).
/// </para>
/// </summary>
internal static class GatewayEdge
{
    public const string AdminEndpoint = "admin";
    public const int PublicPort = 8080;
    public const int AdminPort = 8081;

    /// <summary>The compose network's subnet, pinned so that its bridge gateway is a known address.</summary>
    public const string ComposeSubnet = "10.210.0.0/24";

    /// <summary>
    /// The host's address on the compose bridge. cloudflared (on the host) connects to the published
    /// port on 127.0.0.1; Docker forwards that connection (docker-proxy, or with the userland proxy off
    /// the loopback NAT rule) from the host's address on the bridge, so this is the TCP peer the gateway
    /// sees for every tunnelled request — and for nothing else: other containers have their own
    /// addresses in the subnet and are not trusted.
    /// </summary>
    public const string ComposeBridgeGateway = "10.210.0.1";

    /// <summary>
    /// Pins Aspire's one compose network (named "aspire", driver bridge, in
    /// DockerComposePublishingContext) to <see cref="ComposeSubnet"/>, gateway
    /// <see cref="ComposeBridgeGateway"/>. Left to Docker, the subnet comes from its default pools and
    /// differs between hosts, and the trusted proxy address with it. 10.210.0.0/24 is outside Docker's
    /// default pools (172.17–31.0.0/16, 192.168.0.0/16) and the VNet (10.42.0.0/16, deploy/terraform).
    /// </summary>
    public static void PinComposeNetwork(ComposeFile compose)
    {
        if (compose.Networks.Count != 1)
        {
            throw new InvalidOperationException(
                $"Expected Aspire's single compose network, found {compose.Networks.Count}: the trusted proxy address would not be known.");
        }
        var network = compose.Networks.Values.Single();
        network.Ipam = new Ipam
        {
            Config = [new() { ["subnet"] = ComposeSubnet, ["gateway"] = ComposeBridgeGateway }],
        };
    }

    /// <summary>
    /// Aspire writes a non-external endpoint as <c>expose: ["8081"]</c> (DockerComposeServiceResource.AddPorts):
    /// reachable from the compose network, not from the host's loopback. Publishing it as
    /// <c>127.0.0.1:8081:8081</c> gives an operator with a shell on the VM (debug profile) a fixed address
    /// to tunnel to over SSH, and binds nothing on the VM's other interfaces. It is not reachable through
    /// the tunnel as long as the tunnel's ingress names only the public port — cloudflared runs on the
    /// host and could reach any host address, including the container's own one, so that ingress is the
    /// boundary (deploy/README.md, "Reaching the admin API").
    /// </summary>
    public static void PublishAdminOnLoopback(Service service)
    {
        service.Ports.Add($"127.0.0.1:{AdminPort}:{AdminPort}");
    }
}
