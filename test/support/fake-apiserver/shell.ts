/**
 * The tiny "container" behind exec: a handful of commands (echo, cat, true,
 * false, env, hostname, sleep, pwd) and `sh -c` with `;`, `&&`, `||`, quotes,
 * `$VAR`, `$?` and `exit N`. Unknown commands fail with 127 as runc reports it.
 */

/** The process's view of its streams. */
export interface ShellIO {
  stdout(data: string | Buffer): void;
  stderr(data: string | Buffer): void;
  /** Stdin chunks until it closes; ends at once when exec had no stdin. */
  stdin: AsyncIterable<Buffer>;
  env: Record<string, string>;
  hostname: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

type Token = { word: string } | { op: ";" | "&&" | "||" };

/** Splits a script into words and operators, honouring quotes and expanding variables. */
export function tokenize(script: string, vars: (name: string) => string): Token[] {
  const tokens: Token[] = [];
  let word = "";
  let inWord = false;
  const push = () => {
    if (inWord) tokens.push({ word });
    word = "";
    inWord = false;
  };
  const expand = (s: string, i: number): [string, number] => {
    const m = /^\$(\?|[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})/.exec(s.slice(i));
    if (!m) return ["$", i + 1];
    return [vars(m[1]!.replace(/[{}]/g, "")), i + m[0].length];
  };
  for (let i = 0; i < script.length; ) {
    const ch = script[i]!;
    if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new Error("unterminated quoted string");
      word += script.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      inWord = true;
      while (i < script.length && script[i] !== '"') {
        if (script[i] === "\\" && i + 1 < script.length) (word += script[i + 1]), (i += 2);
        else if (script[i] === "$") {
          const [v, next] = expand(script, i);
          word += v;
          i = next;
        } else word += script[i++];
      }
      if (i >= script.length) throw new Error("unterminated quoted string");
      i++;
    } else if (ch === "\\" && i + 1 < script.length) {
      word += script[i + 1];
      inWord = true;
      i += 2;
    } else if (ch === "$") {
      const [v, next] = expand(script, i);
      word += v;
      inWord = true;
      i = next;
    } else if (script.startsWith("&&", i) || script.startsWith("||", i)) {
      push();
      tokens.push({ op: script.slice(i, i + 2) as "&&" | "||" });
      i += 2;
    } else if (ch === ";" || ch === "\n") {
      push();
      tokens.push({ op: ";" });
      i++;
    } else if (/\s/.test(ch)) {
      push();
      i++;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  push();
  return tokens;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** Splits a script at `;`, newlines, `&&` and `||` outside quotes; each piece is expanded only when it runs. */
export function splitCommands(script: string): Array<{ text: string; after: ";" | "&&" | "||" }> {
  const out: Array<{ text: string; after: ";" | "&&" | "||" }> = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < script.length; i++) {
    const ch = script[i]!;
    if (quote) {
      if (ch === "\\" && quote === '"') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === "\\") i++;
    else if (ch === ";" || ch === "\n" || script.startsWith("&&", i) || script.startsWith("||", i)) {
      const op = ch === ";" || ch === "\n" ? ";" : (script.slice(i, i + 2) as "&&" | "||");
      out.push({ text: script.slice(start, i), after: op });
      if (op !== ";") i++;
      start = i + 1;
    }
  }
  out.push({ text: script.slice(start), after: ";" });
  return out;
}

async function runScript(script: string, io: ShellIO): Promise<number> {
  let status = 0;
  let skip = false;
  for (const { text, after } of splitCommands(script)) {
    if (!skip) {
      let argv: string[];
      try {
        argv = tokenize(text, (name) => (name === "?" ? String(status) : (io.env[name] ?? ""))).flatMap((t) => ("word" in t ? [t.word] : []));
      } catch (e) {
        io.stderr(`sh: syntax error: ${(e as Error).message}\n`);
        return 2;
      }
      if (argv[0] === "exit") return argv[1] === undefined ? status : Number(argv[1]) & 0xff;
      if (argv.length) status = await runCommand(argv, io, true);
    }
    skip = (after === "&&" && status !== 0) || (after === "||" && status === 0);
  }
  return status;
}

/** Runs one command; resolves to its exit code. */
export async function runCommand(argv: string[], io: ShellIO, inShell = false): Promise<number> {
  const [cmd = "", ...args] = argv;
  switch (cmd) {
    case "echo": {
      const noNewline = args[0] === "-n";
      io.stdout((noNewline ? args.slice(1) : args).join(" ") + (noNewline ? "" : "\n"));
      return 0;
    }
    case "cat":
      for await (const chunk of io.stdin) io.stdout(chunk);
      return 0;
    case "true":
      return 0;
    case "false":
      return 1;
    case "pwd":
      io.stdout("/\n");
      return 0;
    case "hostname":
      io.stdout(`${io.hostname}\n`);
      return 0;
    case "env":
      io.stdout(Object.entries(io.env).map(([k, v]) => `${k}=${v}\n`).join(""));
      return 0;
    case "sleep":
      await sleep(Number(args[0] ?? "0") * 1000, io.signal);
      return 0;
    case "sh":
    case "/bin/sh":
    case "bash":
    case "/bin/bash":
      if (args[0] === "-c" && args[1] !== undefined) return runScript(args[1], io);
      return runScript((await readAll(io.stdin)).toString("utf8"), io);
    default:
      if (inShell) io.stderr(`sh: ${cmd}: not found\n`);
      else io.stderr(`OCI runtime exec failed: exec failed: unable to start container process: exec: "${cmd}": executable file not found in $PATH: unknown\n`);
      return 127;
  }
}

async function readAll(stdin: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(c);
  return Buffer.concat(chunks);
}
