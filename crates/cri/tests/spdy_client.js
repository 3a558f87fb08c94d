// A SPDY/3.1 client for the streaming tests, built on node-spdy's transport
// (npm `spdy-transport`), an implementation independent of crated's.
// Usage: node spdy_client.js URL PROTOCOL STREAMS_JSON STDIN_TEXT
// Prints the text each stream carried as one JSON object.
const net = require('net');
const transport = require('spdy-transport');
const [url, protocol, streamsJson, stdinText] = process.argv.slice(2);
const u = new URL(url);
const sock = net.connect(Number(u.port), u.hostname, () => {
  sock.write(`POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\nContent-Length: 0\r\n\r\n`);
});
let head = Buffer.alloc(0);
function onHead(chunk) {
  head = Buffer.concat([head, chunk]);
  const end = head.indexOf('\r\n\r\n');
  if (end < 0) return;
  sock.removeListener('data', onHead);
  const rest = head.slice(end + 4);
  const status = head.slice(0, end).toString().split(' ')[1];
  if (status !== '101') { console.log(JSON.stringify({status})); process.exit(0); }
  if (rest.length) sock.unshift(rest);
  run();
}
sock.on('data', onHead);
function run() {
  const conn = transport.connection.create(sock, { protocol: 'spdy', isServer: false });
  conn.start(3.1);
  const out = {};
  const report = (why) => { console.error(why, JSON.stringify(out)); process.exit(4); };
  sock.on('error', (e) => report('socket error ' + e.code));
  conn.on('error', (e) => report('connection error ' + e.message));
  const streams = JSON.parse(streamsJson);
  let pending = 0;
  for (const hdrs of streams) {
    const key = hdrs.streamtype;
    out[key] = '';
    const s = conn.request({ method: 'POST', path: '/', headers: hdrs, writable: true }, (err) => { if (err) { console.error('request', err); process.exit(2); } });
    if (key === 'stdin') { s.end(stdinText); continue; }
    pending++;
    s.on('error', (e) => report(key + ' stream error ' + e.message));
    s.on('data', (d) => { out[key] += d.toString(); });
    s.on('end', () => { if (--pending === 0) { console.log(JSON.stringify(out)); process.exit(0); } });
    s.resume();
  }
}
setTimeout(() => { console.error('timeout'); process.exit(3); }, 15000);
