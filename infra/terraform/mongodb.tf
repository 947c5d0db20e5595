# The MongoDB connection budget. Every function opens a pool to each server it uses (up to
# MONGO_MAX_POOL_SIZE, set from local.functions[*].mongo_pool) and PyMongo keeps two more
# connections to every server outside the pool for monitoring (the server monitor and the
# round-trip-time monitor). With the default read preference every pool is on the primary, so
# the primary's connection limit (Atlas: per node, by tier) must hold every instance of every
# function at once. The check is a precondition on the functions (functions.tf).
locals {
  mongo_monitoring_connections    = 2
  mongo_connection_margin_percent = 10

  mongo_connections_per_server = sum([
    for key, fn in local.functions : fn.service.max_instances * (fn.mongo_pool + local.mongo_monitoring_connections)
  ])
  # A margin for connections from elsewhere: the operators' shells and the CLI in direct mode,
  # the cluster's own monitoring and backups, instances still draining after a redeploy.
  mongo_connections_allowed = floor(var.mongo_max_connections * (100 - local.mongo_connection_margin_percent) / 100)
}
