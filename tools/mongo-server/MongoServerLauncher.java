import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Starts mongo-java-server on 127.0.0.1.
 *
 * Usage: java -cp 'lib/*' MongoServerLauncher.java PORT [DATA_FILE]
 *
 * Without DATA_FILE the in-memory backend is used (tests); with it, the H2 backend keeps the
 * data in that file (local runs). The server reports MongoDB 5.0 (wire version 13) because
 * PyMongo 4.20 refuses servers below wire version 9, and the library's own ServerVersion
 * constants (even MONGO_5_0) report wire version 8.
 * Prints "listening on 127.0.0.1:PORT" once the socket is bound; stops on SIGTERM/SIGINT.
 */
public final class MongoServerLauncher {
    /** The version the server reports in hello/buildInfo. */
    private static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: MongoServerLauncher PORT [DATA_FILE]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        MongoBackend backend = args.length == 2 ? new H2Backend(args[1]) : new MemoryBackend();
        backend.version(REPORTED_VERSION);
        MongoServer server = new MongoServer(backend);
        server.bind("127.0.0.1", port);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            // shutdownNow closes the backend, which makes the H2 store write its last changes.
            server.shutdownNow();
            stopped.countDown();
        }));
        System.out.println("listening on 127.0.0.1:" + port);
        System.out.flush();
        stopped.await();
    }
}
