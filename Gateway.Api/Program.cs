using Gateway.Api.Apis;
using Gateway.Api.Edge;
using Gateway.Api.Services;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
app.WarmUpGateway();

app.UseClientAddress();
app.UseRequestIds();
app.UseOpenAiErrorEnvelope();
app.UseAdminListener();
app.UseCors(GatewayServiceExtensions.CorsPolicy);

app.MapOpenAiApi();
app.MapAttestationApi();
app.MapAdminKeysApi();
app.MapDefaultEndpoints();

app.Run();

public partial class Program;
