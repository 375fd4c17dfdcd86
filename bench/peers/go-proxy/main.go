// A fair Go peer for kubegate's proxy bench: what Karmada's cluster proxy,
// kube-oidc-proxy, Rancher and Pinniped build on. net/http/httputil.ReverseProxy,
// TLS in front (HTTP/2 and HTTP/1.1 by ALPN), the client's Authorization replaced by a
// bearer token, and a keep-alive TLS pool to the upstream (HTTP/2 when it offers it).
// Standard library only. Prints "listening on https://ADDR" once it accepts connections.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("cert", "", "serving certificate (PEM)")
	keyFile := flag.String("key", "", "serving key (PEM)")
	upstream := flag.String("upstream", "", "upstream base URL (https://host:port)")
	caFile := flag.String("upstream-ca", "", "CA bundle the upstream's certificate must chain to")
	tokenFile := flag.String("token-file", "", "bearer token sent to the upstream")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme != "https" {
		log.Fatalf("--upstream must be an https URL: %q", *upstream)
	}
	caPem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPem) {
		log.Fatalf("no certificate in %s", *caFile)
	}
	tokenBytes, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))

	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1000,
		MaxIdleConnsPerHost: 1000,
		IdleConnTimeout:     90 * time.Second,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization")
			r.Out.Header.Set("Authorization", "Bearer "+token)
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      log.New(os.Stderr, "go-proxy: ", 0),
	}

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{
		Handler:   proxy,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}},
	}
	fmt.Printf("listening on https://%s\n", ln.Addr().String())
	log.Fatal(server.ServeTLS(ln, "", ""))
}
