using Gateway.Api.Apis;
using Gateway.Api.Edge;
using Gateway.Api.Keys;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();
builder.AddBodySealing();

var app = builder.Build();
app.WarmUpGateway();

app.UseClientAddress();
app.UseRequestIds();
// Sealed bodies are opened as the route reads them (after authentication); every answer after this point is sealed.
app.UseBodySealing();
app.UseOpenAiErrorEnvelope();
app.UseAdminListener();
app.UseCors(GatewayServiceExtensions.CorsPolicy);

app.MapOpenAiApi();
app.MapAttestationApi();
app.MapHpkeKeys();
app.MapAdminKeysApi();
app.MapDefaultEndpoints();

app.Run();

public partial class Program;
