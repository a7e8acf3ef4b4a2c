namespace BrightDb.Npgsql.IntegrationTests.Support;

/// <summary>
/// Tests whose requirement is a duration (an open within a time, a share of the work within a number of seconds, what a
/// failover adds to an open) run one class at a time, after the others and alone: the suite otherwise runs two classes at
/// once, and a neighbour starting ten processes or sixty workers on the same two cores would be measured with them.
/// </summary>
[CollectionDefinition(nameof(TimedCollection), DisableParallelization = true)]
public sealed class TimedCollection;
