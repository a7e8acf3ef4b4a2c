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

    /// <summary>The schema of the extensions the cluster uses itself (dblink); no other user may use it.</summary>
    public const string InternalSchema = "bm_cluster";

    /// <summary>Installs dblink where only the cluster's own functions use it, when this PostgreSQL ships it (contrib).</summary>
    public const string InternalExtensions = $"""
        DO $do$
        BEGIN
          CREATE SCHEMA {InternalSchema};
          REVOKE ALL ON SCHEMA {InternalSchema} FROM PUBLIC;
          IF EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'dblink') THEN
            CREATE EXTENSION dblink SCHEMA {InternalSchema};
          END IF;
        END
        $do$;
        """;

    /// <summary>
    /// yb_servers(): reads the cluster's membership file through a link in the data directory, so one atomic file rename
    /// updates every node of a cluster at once. When the file lists count targets, <c>num_connections</c> is each node's
    /// count of client backends at the call (this node's from pg_stat_activity, the others' over dblink, all asked at once
    /// once the links are up, so that the counts are of about the same moment), leaving out the
    /// cluster's own superuser (the tool, and the counting itself) and drivers' own connections: those in the middle of a
    /// yb_servers() call (the asking one included) and those the BrightDB driver names "(BrightDB control)". Asking is not
    /// load, and many processes starting at once would otherwise all be counted on the server they ask; a node that cannot be asked within 2 s reports NULL (unknown). SECURITY DEFINER because
    /// pg_read_file and dblink need a superuser; search_path is pinned so a caller cannot substitute functions.
    /// </summary>
    public const string YbServersFunction = $$"""
        CREATE FUNCTION public.yb_servers()
        RETURNS TABLE(host text, port bigint, num_connections bigint, node_type text, cloud text, region text, zone text,
                      public_ip text, uuid text, universe_uuid text)
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $fn$
        #variable_conflict use_column
        DECLARE
          doc jsonb := pg_catalog.pg_read_file('brightdb_membership')::jsonb;
          counted jsonb := '{}'::jsonb;
          target record;
          n bigint;
          link text;
          links text[] := '{}';
          link_uuids text[] := '{}';
          local_uuid text;
          count_sql constant text := 'SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = ''client backend'' '
            || 'AND usename IS DISTINCT FROM ''{{AdminUser}}'' '
            || 'AND application_name NOT LIKE ''%(BrightDB control)'' '
            || 'AND NOT (state = ''active'' AND query ILIKE ''%yb_servers()%'')';
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
          IF pg_catalog.jsonb_typeof(doc->'count_targets') = 'array' THEN
            -- Links left open by an earlier call of this session that stopped half-way.
            FOR link IN SELECT l FROM pg_catalog.unnest({{InternalSchema}}.dblink_get_connections()) AS l WHERE l LIKE 'brightdb_count_%' LOOP
              PERFORM {{InternalSchema}}.dblink_disconnect(link);
            END LOOP;
            -- 1. Connect to every other node first: the slow part (a connection with SCRAM each).
            FOR target IN SELECT * FROM pg_catalog.jsonb_to_recordset(doc->'count_targets') AS t(uuid text, host text, port integer) LOOP
              IF pg_catalog.host(pg_catalog.inet_server_addr()) = target.host AND pg_catalog.inet_server_port() = target.port THEN
                local_uuid := target.uuid;
                CONTINUE;
              END IF;
              link := 'brightdb_count_' || target.uuid;
              BEGIN
                PERFORM {{InternalSchema}}.dblink_connect(link,
                  pg_catalog.format('host=%s port=%s dbname=postgres user={{AdminUser}} password={{AdminPassword}} application_name={{ToolApplicationName}} connect_timeout=2',
                    target.host, target.port));
                links := links || link;
                link_uuids := link_uuids || target.uuid;
              EXCEPTION WHEN OTHERS THEN
                -- A node that could not be asked is reported as NULL: unknown, not empty.
                counted := counted || pg_catalog.jsonb_build_object(target.uuid, NULL::bigint);
              END;
            END LOOP;
            -- 2. Then ask them all at once and count this node meanwhile, so that every node is counted at about the same
            -- moment: counted one after another, the first would be the oldest by the time of a connection or two, and
            -- processes that read the counts while others connect would all see that node as the least loaded.
            FOR i IN 1 .. pg_catalog.cardinality(links) LOOP
              BEGIN
                PERFORM {{InternalSchema}}.dblink_send_query(links[i], count_sql);
              EXCEPTION WHEN OTHERS THEN
                NULL;
              END;
            END LOOP;
            IF local_uuid IS NOT NULL THEN
              EXECUTE count_sql INTO n;
              counted := counted || pg_catalog.jsonb_build_object(local_uuid, n);
            END IF;
            FOR i IN 1 .. pg_catalog.cardinality(links) LOOP
              BEGIN
                SELECT c INTO n FROM {{InternalSchema}}.dblink_get_result(links[i]) AS r(c bigint);
              EXCEPTION WHEN OTHERS THEN
                n := NULL;
              END;
              counted := counted || pg_catalog.jsonb_build_object(link_uuids[i], n);
              BEGIN
                PERFORM {{InternalSchema}}.dblink_disconnect(links[i]);
              EXCEPTION WHEN OTHERS THEN
                NULL;
              END;
            END LOOP;
          END IF;
          RETURN QUERY
            SELECT r.host, r.port, CASE WHEN counted ? r.uuid THEN (counted->>r.uuid)::bigint ELSE r.num_connections END, r.node_type, r.cloud, r.region, r.zone,
              r.public_ip, r.uuid, r.universe_uuid
            FROM pg_catalog.jsonb_to_recordset(doc->'rows') AS r(host text, port bigint, num_connections bigint, node_type text,
              cloud text, region text, zone text, public_ip text, uuid text, universe_uuid text);
        END
        $fn$;
        """;
}
