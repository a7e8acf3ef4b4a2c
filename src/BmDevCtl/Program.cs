using BmDevCtl;

return await Cli.RunAsync(args, Console.Out, Console.Error);
