# The graph scenarios, shared by compare.sh and backends.sh: committed make_item runs
# (each connection its own user) and list_items reads. Sourced; the caller defines
# `lg <loadgen args>` and `n <count>` (the count it wants for a nominal one).
graph_scenarios() {
  lg graph --op write --via ws --connections 1 --requests "$(n 5000)"
  lg graph --op write --via ws --connections 16 --requests "$(n 1000)"
  lg graph --op write --via rest --connections 1 --requests "$(n 5000)"
  lg graph --op write --via rest --connections 16 --requests "$(n 1000)"
  lg graph --op read --via rest --connections 1 --requests "$(n 2000)" --items 100
  lg graph --op read --via rest --connections 1 --requests "$(n 400)" --items 1000
}
