module kubegate.dev/bench/go-proxy

go 1.23
