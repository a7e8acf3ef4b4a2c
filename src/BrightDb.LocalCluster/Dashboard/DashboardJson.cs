using System.Text.Json;

namespace BrightDb.LocalCluster.Dashboard;

/// <summary>The dashboard's JSON (<c>GET /api/cluster</c>): a <see cref="ClusterView"/> with snake_case names, e.g.
/// <c>{"at":"…","nodes":[{"index":1,"address":"127.0.0.1:2521","placement":"aws.us-west.us-west-2a","type":"primary",
/// "state":"running","connections":10,"applications":[{"name":"app","connections":10}],"history":[…],"error":null}],
/// "total_connections":30,"interval_milliseconds":500}</c>.</summary>
public static class DashboardJson
{
    static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>Renders a view.</summary>
    /// <param name="view">The view.</param>
    /// <returns>The JSON document.</returns>
    public static string Serialize(ClusterView view) => JsonSerializer.Serialize(view, Options);

    /// <summary>Reads a view rendered by <see cref="Serialize"/>.</summary>
    /// <param name="json">The JSON document.</param>
    /// <returns>The view.</returns>
    /// <exception cref="JsonException">The document is not a view.</exception>
    public static ClusterView Deserialize(string json) =>
        JsonSerializer.Deserialize<ClusterView>(json, Options) ?? throw new JsonException("The document is null.");
}
