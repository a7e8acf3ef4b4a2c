namespace BrightDb.LocalCluster; internal static class Placeholder { }
