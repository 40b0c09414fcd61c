// A Go server for the subjects family, started as Go programs start theirs:
//   listen listen NETWORK ADDRESS   net.Listen(NETWORK, ADDRESS), then accept forever
//   listen http ADDRESS             http.ListenAndServe(ADDRESS, handler), as Gin's Run does
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "http" {
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		fmt.Fprintln(os.Stderr, http.ListenAndServe(os.Args[2], handler))
		os.Exit(1)
	}
	if len(os.Args) != 4 || os.Args[1] != "listen" {
		fmt.Fprintln(os.Stderr, "usage: listen listen NETWORK ADDRESS | listen http ADDRESS")
		os.Exit(2)
	}
	ln, err := net.Listen(os.Args[2], os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		conn.Close()
	}
}
