"""Citizens' reports (网络诉求): the rules, the desk, statistics, tracking codes, API, pages and console."""
