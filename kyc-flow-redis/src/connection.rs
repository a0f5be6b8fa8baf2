//! The connection the adapters talk through: one Redis endpoint or a Redis Cluster.
//!
//! Every adapter sends its commands, pipelines and scripts through [`RedisConnection`], which
//! implements [`redis::aio::ConnectionLike`], so no adapter knows which of the two it runs on.
//! On a cluster the redis crate's cluster client routes each command to the master of its
//! key's slot (scripts by their first key, `XREADGROUP` by its stream, a pipeline by the slot
//! its commands share) and follows `MOVED`/`ASK` redirections. What cannot be routed by a key
//! — `SCAN` of the whole keyspace — goes through [`RedisConnection::scan_targets`] and
//! [`RedisConnection::query_on`], once per master.

use crate::error::RedisStoreError;
use crate::reply;
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

/// A connection to the deployment's Redis, whatever its shape. Cheap to clone (every variant
/// is a handle on a multiplexed connection).
#[derive(Clone)]
pub enum RedisConnection {
    /// One endpoint through a [`ConnectionManager`], which reconnects by itself: the shared
    /// connection on a single Redis.
    Single(ConnectionManager),
    /// A connection of its own to one endpoint: blocking stream reads on a single Redis.
    Dedicated(MultiplexedConnection),
    /// A Redis Cluster: each command goes to the master serving its key's slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConnection::Single",
            Self::Dedicated(_) => "RedisConnection::Dedicated",
            Self::Cluster(_) => "RedisConnection::Cluster",
        })
    }
}

/// Where a keyspace-wide command runs: the one endpoint, or one master of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTarget {
    /// The single endpoint.
    Endpoint,
    /// A cluster master, by the address the cluster announces for it.
    Master {
        /// Host (an IP address as announced in `CLUSTER SLOTS`).
        host: String,
        /// Port.
        port: u16,
    },
}

impl RedisConnection {
    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Where a command over the whole keyspace (`SCAN`) must run to see every key: the
    /// endpoint, or every master of the cluster (read from `CLUSTER SLOTS`, so a master that
    /// serves several slot ranges is listed once).
    pub async fn scan_targets(&mut self) -> Result<Vec<ScanTarget>, RedisStoreError> {
        let Self::Cluster(c) = self else {
            return Ok(vec![ScanTarget::Endpoint]);
        };
        let slots = c
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut out: Vec<ScanTarget> = Vec::new();
        // [[start, end, [host, port, id, …], replicas…], …]
        for range in reply::items(slots)? {
            let master = reply::items(range)?
                .into_iter()
                .nth(2)
                .ok_or_else(|| RedisStoreError::Protocol("CLUSTER SLOTS: no master".into()))?;
            let mut node = reply::items(master)?.into_iter();
            let (Some(host), Some(port)) = (node.next(), node.next()) else {
                return Err(RedisStoreError::Protocol(
                    "CLUSTER SLOTS: short node entry".into(),
                ));
            };
            let target = ScanTarget::Master {
                host: reply::string(host)?,
                port: u16::try_from(reply::int(port)?)
                    .map_err(|_| RedisStoreError::Protocol("CLUSTER SLOTS: bad port".into()))?,
            };
            if !out.contains(&target) {
                out.push(target);
            }
        }
        Ok(out)
    }

    /// Runs `cmd` on `target` (on a single endpoint, on the endpoint whatever the target).
    pub async fn query_on<T: FromRedisValue>(
        &mut self,
        target: &ScanTarget,
        cmd: &Cmd,
    ) -> Result<T, RedisStoreError> {
        match (self, target) {
            (Self::Cluster(c), ScanTarget::Master { host, port }) => {
                let v = c
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        }),
                    )
                    .await?;
                Ok(redis::from_redis_value(v).map_err(redis::RedisError::from)?)
            }
            (conn, _) => Ok(cmd.query_async(conn).await?),
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Dedicated(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Dedicated(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
