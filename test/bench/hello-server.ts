/** The baseline of the load bench: a bare express hello-world, in its own process like the portal's web role. */
import express from 'express';

const app = express();
app.get('/', (_req, res) => res.send('hello'));
app.post('/', (_req, res) => res.send('hello'));
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('hello listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
