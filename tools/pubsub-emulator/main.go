// Command pubsub-emulator serves an in-memory Pub/Sub API (pstest) on a loopback port, so the
// tests can drive the real google-cloud-pubsub client through PUBSUB_EMULATOR_HOST.
//
//	pubsub-emulator -port 8085
//
// It prints "listening on 127.0.0.1:PORT" once it accepts connections and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
	port := flag.Int("port", 8085, "loopback port to listen on")
	flag.Parse()

	server := pstest.NewServerWithAddress(fmt.Sprintf("127.0.0.1:%d", *port))
	defer server.Close()
	fmt.Printf("listening on %s\n", server.Addr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	log.Print("pubsub-emulator: stopping")
}
