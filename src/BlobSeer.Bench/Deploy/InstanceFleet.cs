using System.Text.Json;
using BlobSeer.Bench.Testbed;

namespace BlobSeer.Bench.Deploy;

/// <summary>
/// One agent per compute host, started together, driven step by step in lock-step: every agent
/// gets the step at (nearly) the same instant, and the step ends when the last one answers.
/// </summary>
internal sealed class InstanceFleet : IAsyncDisposable
{
    private readonly List<ChildProcess> _agents;

    private InstanceFleet(List<ChildProcess> agents) => _agents = agents;

    public int Count => _agents.Count;

    /// <summary>Starts one agent per host with the arguments <paramref name="args"/> gives it, and waits until every one is ready.</summary>
    public static async Task<InstanceFleet> StartAsync(BlobSeerExecutable executable, IReadOnlyList<TestbedHost> hosts, string what, Func<int, TestbedHost, IReadOnlyList<string>> args, CancellationToken ct)
    {
        var agents = new List<ChildProcess>();
        var fleet = new InstanceFleet(agents);
        try
        {
            for (var i = 0; i < hosts.Count; i++)
            {
                agents.Add(hosts[i].Start(what, executable, args(i, hosts[i])));
            }

            await Phase.RunAsync($"starting {hosts.Count} {what} agents", TimeSpan.FromMinutes(5),
                t => Task.WhenAll(agents.Select(a => a.WaitForLineAsync(l => l == "ready", t))), ct);
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="step"/> to every agent and returns their results in host order, with
    /// the instant (Unix µs) the first agent was told. A failed agent fails the step.
    /// </summary>
    public async Task<(long GoUs, IReadOnlyList<AgentResult> Results)> StepAsync(string step, TimeSpan timeout, CancellationToken ct) =>
        await Phase.RunAsync($"step '{step}' on {_agents.Count} hosts", timeout, async t =>
        {
            var go = DeployAgent.NowUs();
            await Task.WhenAll(_agents.Select(a => a.SendLineAsync(step, t)));
            var lines = await Task.WhenAll(_agents.Select(a =>
                a.WaitForLineAsync(l => l.StartsWith("result ", StringComparison.Ordinal) || l.StartsWith("failed ", StringComparison.Ordinal), t)));
            var results = new List<AgentResult>();
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].StartsWith("failed ", StringComparison.Ordinal))
                {
                    throw new BenchException($"step '{step}' failed on {_agents[i]}: {lines[i]["failed ".Length..]}{_agents[i].StderrTail()}");
                }

                results.Add(JsonSerializer.Deserialize(lines[i]["result ".Length..], AgentJson.Default.AgentResult)
                    ?? throw new BenchException($"step '{step}': an empty result from {_agents[i]}"));
            }

            return ((long, IReadOnlyList<AgentResult>))(go, results);
        }, ct);

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_agents.Select(async a =>
        {
            try
            {
                if (!a.HasExited)
                {
                    await a.SendLineAsync("exit", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
                    await a.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
                }
            }
            catch (Exception e) when (e is TimeoutException or IOException or InvalidOperationException)
            {
            }

            await a.StopAsync(TimeSpan.FromSeconds(5));
        }));
    }
}
