// A Node server for the subjects family: net.createServer().listen(options).
// node listen.js HOST|- IPV6ONLY|- PORT   ("-" leaves the option out)
"use strict";
const net = require("net");
const [host, ipv6Only, port] = process.argv.slice(2);
const options = { port: Number(port) };
if (host !== "-") options.host = host;
if (ipv6Only !== "-") options.ipv6Only = ipv6Only === "true";
const server = net.createServer((socket) => socket.end());
server.on("error", (err) => { console.error(err.message); process.exit(1); });
server.listen(options);
