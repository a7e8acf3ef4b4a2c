namespace BrightDb.LocalCluster.Internal;

/// <summary>The fixed configuration and SQL baked into the template data directory.</summary>
static class ServerSetup
{
    /// <summary>The tool's own superuser; every connection the tool opens sets <see cref="ToolApplicationName"/>.</summary>
    public const string AdminUser = "bigmath_admin";

    /// <summary>Only ever reachable on loopback; the clusters are disposable test clusters.</summary>
    public const string AdminPassword = "bigmath_admin";

    /// <summary>The client user, password and database of the tutorial.</summary>
    public const string User = "bigmath";

    public const string DefaultPassword = "bigmath";

    public const string Database = "bigmath";

    /// <summary>Connections of the tool itself carry this application name so rpcz can leave them out.</summary>
    public const string ToolApplicationName = "bm-dev-ctl";

    /// <summary>The link in each data directory to the cluster's shared membership file (written by <see cref="ClusterStore"/>).</summary>
    public const string MembershipLinkName = "brightdb_membership";

    /// <summary>Per-node settings (address, port) live here, included from postgresql.conf.</summary>
    public const string NodeConfigName = "node.conf";

    /// <summary>Appended to initdb's postgresql.conf: light enough for 2 cores and many parallel clusters.</summary>
    public const string BaseConfig = """

        # BrightDB local cluster node (test cluster: durability is off on purpose).
        listen_addresses = ''
        unix_socket_directories = ''
        max_connections = 300
        shared_buffers = 16MB
        fsync = off
        synchronous_commit = off
        full_page_writes = off
        wal_level = minimal
        max_wal_senders = 0
        autovacuum = off
        dynamic_shared_memory_type = mmap
        huge_pages = off
        password_encryption = 'scram-sha-256'
        log_line_prefix = '%m [%p] '
        log_connections = off
        include_if_exists = 'node.conf'
        """;

    /// <summary>Password authentication over loopback TCP; the Unix socket is only used while building the template.</summary>
    public const string HbaConfig = """
        # TYPE  DATABASE  USER  ADDRESS        METHOD
        local   all       all                  scram-sha-256
        host    all       all   127.0.0.0/8    scram-sha-256
        """;

    /// <summary>
    /// yb_servers(): reads the cluster's membership file through a link in the data directory, so one atomic file rename
    /// updates every node of a cluster at once. SECURITY DEFINER because pg_read_file needs a superuser; search_path is
    /// pinned so a caller cannot substitute functions.
    /// </summary>
    public const string YbServersFunction = """
        CREATE FUNCTION public.yb_servers()
        RETURNS TABLE(host text, port bigint, num_connections bigint, node_type text, cloud text, region text, zone text,
                      public_ip text, uuid text, universe_uuid text)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $fn$
        #variable_conflict use_column
        DECLARE
          doc jsonb := pg_catalog.pg_read_file('brightdb_membership')::jsonb;
        BEGIN
          CASE doc->>'behavior'
            WHEN 'fail' THEN
              RAISE EXCEPTION 'yb_servers() failed (fault injected by bm-dev-ctl)' USING ERRCODE = 'XX000';
            WHEN 'missing' THEN
              RAISE EXCEPTION 'function yb_servers() does not exist' USING ERRCODE = 'undefined_function',
                HINT = 'No function matches the given name and argument types. You might need to add explicit type casts.';
            WHEN 'slow' THEN
              PERFORM pg_catalog.pg_sleep((doc->>'delay_ms')::double precision / 1000.0);
            ELSE
              NULL;
          END CASE;
          RETURN QUERY
            SELECT r.host, r.port, r.num_connections, r.node_type, r.cloud, r.region, r.zone, r.public_ip, r.uuid, r.universe_uuid
            FROM pg_catalog.jsonb_to_recordset(doc->'rows') AS r(host text, port bigint, num_connections bigint, node_type text,
              cloud text, region text, zone text, public_ip text, uuid text, universe_uuid text);
        END
        $fn$;
        """;
}
