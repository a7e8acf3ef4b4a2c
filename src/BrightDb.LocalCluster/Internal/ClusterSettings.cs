namespace BrightDb.LocalCluster.Internal;

/// <summary>What a cluster is for its whole life: fixed when it is created, recorded in its state file.</summary>
/// <param name="UniverseUuid">The <c>universe_uuid</c> every <c>yb_servers()</c> row reports.</param>
/// <param name="Plan">Where its nodes listen.</param>
/// <param name="Password">The password of user bigmath.</param>
/// <param name="OwnsBaseDirectory">Whether destroy deletes the whole base directory (the cluster created it) or only its own files in it.</param>
/// <param name="WithYbServers">Whether its servers have <c>yb_servers()</c>.</param>
/// <param name="BinDirectory">The PostgreSQL binaries it runs.</param>
/// <param name="FaultProxy">Whether a fault proxy listens on every node's address and its server elsewhere.</param>
/// <param name="Tls">Whether its servers serve TLS with certificates of the cluster's own authority.</param>
/// <param name="PublicAddresses">Whether each node also listens on a public address, reported in <c>public_ip</c>.</param>
/// <param name="ReportConnections">Whether <c>yb_servers()</c> reports each node's client connections in <c>num_connections</c>.</param>
/// <param name="HostNames">Whether the nodes have host names (in <c>/etc/hosts</c>), which <c>yb_servers()</c> reports instead of their addresses.</param>
sealed record ClusterSettings(
    string UniverseUuid, AddressPlan Plan, string Password, bool OwnsBaseDirectory, bool WithYbServers, string BinDirectory, bool FaultProxy,
    bool Tls = false, bool PublicAddresses = false, bool ReportConnections = false, bool HostNames = false);
