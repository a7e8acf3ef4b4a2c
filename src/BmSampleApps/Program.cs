using BmSampleApps;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl-C ends the workload cleanly (the summary is still printed); a second one ends the process.
    if (stop.IsCancellationRequested)
        return;
    e.Cancel = true;
    stop.Cancel();
};
return await Cli.RunAsync(args, Console.Out, Console.Error, stop.Token);
