/*
 * flame.js - draws a heapspan flame graph from the data viz/flame.c embeds in the page
 * (docs/flame.md, "The embedded data"). Plain browser JavaScript with no dependency:
 * the page is opened from file:// with no network, and its Content-Security-Policy
 * lets nothing be fetched.
 *
 * The data is the call tree in preorder (a depth and a frame per node, the metrics'
 * values per node); the tree is rebuilt here into typed arrays, and inverted on demand.
 * Only what is at least a pixel wide is drawn: narrower siblings become one "merged"
 * block, so that the DOM holds a few thousand frames whatever the profile's size. Each
 * frame is a <div> holding its function's name, so that the browser's find sees it.
 */
var HeapspanFlame = (function () {
    'use strict';

    var ROW = 18;      /* px per frame */
    var MIN_PX = 1;    /* narrower frames are merged into one block per parent */
    var KIND_NAMES = ['the program', 'a library or extension', 'the C/C++ runtime',
                      'the interpreter', 'an unknown module', 'merged'];
    var NV_LEAKED_N = 5; /* the value column after the metrics: leaked blocks */

    function fmtBytes(v) {
        var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
        var a = Math.abs(v), i = 0;
        while (a >= 1024 && i < units.length - 1) {
            a /= 1024;
            i++;
        }
        if (i === 0)
            return (v < 0 ? '-' : '') + Math.round(a) + ' B';
        var s = a >= 100 ? a.toFixed(0) : a >= 10 ? a.toFixed(1) : a.toFixed(2);
        return (v < 0 ? '-' : '') + s + ' ' + units[i];
    }

    function fmtCount(v) {
        return Math.round(v).toLocaleString('en-US');
    }

    function esc(s) {
        return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
            .replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    }

    function hash(s) {
        var h = 2166136261;
        for (var i = 0; i < s.length; i++) {
            h ^= s.charCodeAt(i);
            h = Math.imul(h, 16777619) >>> 0;
        }
        return h;
    }

    /* The colours viz/flame.c's SVG uses, by the module's kind. */
    var HUE = [12, 205, 110, 280, 0, 0], SPREAD = [30, 30, 30, 24, 0, 0];
    var SAT = [78, 55, 28, 45, 0, 0], LIGHT = [62, 66, 64, 70, 75, 85];

    function kindColour(kind, name) {
        var h = hash(name);
        var hue = HUE[kind] + (SPREAD[kind] ? h % SPREAD[kind] : 0);
        var light = LIGHT[kind] + ((h >>> 8) % 8) - 4;
        return 'hsl(' + hue + ',' + SAT[kind] + '%,' + light + '%)';
    }

    function diffColour(delta, maxAbs) {
        var s = maxAbs > 0 ? Math.min(1, Math.abs(delta) / maxAbs) : 0;
        var light = Math.round(95 - 45 * s);
        if (delta > 0)
            return 'hsl(0,85%,' + light + '%)';
        if (delta < 0)
            return 'hsl(215,85%,' + light + '%)';
        return 'hsl(0,0%,88%)';
    }

    /* ---- the data ---- */

    function Frames(d) {
        var f = d.frames, s = d.strings;
        this.n = f.kind.length;
        this.name = new Array(this.n);
        this.file = new Array(this.n);
        this.mod = new Array(this.n);
        this.line = f.line;
        this.kind = f.kind;
        this.inl = f.inl;
        for (var i = 0; i < this.n; i++) {
            var fn = f.fn[i];
            this.name[i] = typeof fn === 'string' ? fn : fn >= 0 ? s[fn] : '?';
            this.file[i] = f.file[i] >= 0 ? s[f.file[i]] : null;
            this.mod[i] = f.mod[i] >= 0 ? s[f.mod[i]] : null;
        }
    }

    /* One of the data's columns: base-36 integers, comma-separated, empty for 0. */
    function column(s, n, Type) {
        var a = new Type(n), start = 0, i = 0;
        for (var j = 0; j <= s.length && i < n; j++) {
            if (j === s.length || s.charCodeAt(j) === 44) {
                if (j > start)
                    a[i] = parseInt(s.substring(start, j), 36);
                i++;
                start = j + 1;
            }
        }
        return a;
    }

    /* The tree of the data: parents, children as linked lists, values per column (each
     * node's own in the data; here with its children's added). */
    function buildTree(d) {
        var n = d.nodes.n, depth = column(d.nodes.depth, n, Int32Array);
        var cols = function (list) {
            return list.map(function (s) { return column(s, n, Float64Array); });
        };
        var t = {
            n: n,
            parent: new Int32Array(n),
            first: new Int32Array(n).fill(-1),
            next: new Int32Array(n).fill(-1),
            frame: column(d.nodes.frame, n, Int32Array),
            v: cols(d.nodes.self),
            b: d.nodes.baseSelf ? cols(d.nodes.baseSelf) : null
        };
        var last = new Int32Array(n).fill(-1), stack = [];
        for (var i = 0; i < n; i++) {
            var dep = depth[i];
            stack[dep] = i;
            var p = dep > 0 ? stack[dep - 1] : -1;
            t.parent[i] = p;
            if (p >= 0) {
                if (last[p] >= 0)
                    t.next[last[p]] = i;
                else
                    t.first[p] = i;
                last[p] = i;
            }
        }
        var all = t.b ? t.v.concat(t.b) : t.v;
        for (i = n - 1; i > 0; i--)
            for (var k = 0; k < all.length; k++)
                all[k][t.parent[i]] += all[k][i];
        return t;
    }

    /* The inverted tree: each node's own values (what it holds less its children's) at
     * the end of its stack read from the allocating function up. */
    function invertTree(t) {
        var nv = t.v.length, cols = t.b ? 2 * nv : nv, i, k;
        var src = t.b ? t.v.concat(t.b) : t.v;
        var self = src.map(function (a) { return Float64Array.from(a); });
        for (i = 1; i < t.n; i++)
            for (k = 0; k < cols; k++)
                self[k][t.parent[i]] -= src[k][i];
        var parent = [-1], frame = [0], first = [-1], next = [-1], last = [-1];
        var vals = [];
        for (k = 0; k < cols; k++)
            vals.push([src[k][0]]);
        var kids = new Map();
        for (i = 1; i < t.n; i++) {
            var any = false;
            for (k = 0; k < cols; k++)
                if (Math.abs(self[k][i]) > 1e-9) {
                    any = true;
                    break;
                }
            if (!any)
                continue;
            var cur = 0;
            for (var j = i; j > 0; j = t.parent[j]) {
                var key = cur * 4194304 + t.frame[j];
                var c = kids.get(key);
                if (c === undefined) {
                    c = parent.length;
                    parent.push(cur);
                    frame.push(t.frame[j]);
                    first.push(-1);
                    next.push(-1);
                    last.push(-1);
                    for (k = 0; k < cols; k++)
                        vals[k].push(0);
                    if (last[cur] >= 0)
                        next[last[cur]] = c;
                    else
                        first[cur] = c;
                    last[cur] = c;
                    kids.set(key, c);
                }
                for (k = 0; k < cols; k++)
                    vals[k][c] += self[k][i];
                cur = c;
            }
        }
        var typed = vals.map(function (a) { return Float64Array.from(a); });
        return {
            n: parent.length,
            parent: Int32Array.from(parent),
            first: Int32Array.from(first),
            next: Int32Array.from(next),
            frame: Int32Array.from(frame),
            v: typed.slice(0, nv),
            b: t.b ? typed.slice(nv) : null
        };
    }

    /* ---- the widget ---- */

    function el(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls)
            e.className = cls;
        if (text !== undefined)
            e.textContent = text;
        return e;
    }

    function Widget(root, data) {
        this.root = root;
        this.data = data;
        this.frames = new Frames(data);
        this.trees = [buildTree(data), null];
        this.metric = data.metric || 0;
        this.inverted = !!data.inverted;
        this.icicle = !!data.icicle;
        this.zoom = 0;
        this.search = null;
        this.colours = [];
        this.items = null;
        this.build();
        this.render();
    }

    Widget.prototype.tree = function () {
        var i = this.inverted ? 1 : 0;
        if (!this.trees[i])
            this.trees[i] = invertTree(this.trees[0]);
        return this.trees[i];
    };

    Widget.prototype.metricInfo = function () {
        return this.data.metrics[this.metric];
    };

    Widget.prototype.fmt = function (v) {
        return this.metricInfo().bytes ? fmtBytes(v) : fmtCount(v);
    };

    /* With the exact byte count beside the short form, where people check amounts. */
    Widget.prototype.fmtExact = function (v) {
        return this.metricInfo().bytes ? fmtBytes(v) + ' (' + fmtCount(v) + ' B)' : fmtCount(v);
    };

    Widget.prototype.build = function () {
        var self = this, d = this.data, root = this.root;
        root.classList.add('hs-fg');
        if (d.diff)
            root.classList.add('hs-fg-diff');
        var head = el('div', 'hs-fg-head');
        head.appendChild(el('h2', 'hs-fg-title', d.title));
        var p = d.process;
        var sub = p.exe + ' (pid ' + p.pid + '), ' + p.point;
        if (d.diff)
            sub = 'BASE ' + d.baseProcess.exe + ' (pid ' + d.baseProcess.pid + ') \u2192 NEW ' + sub;
        if (p.sampled)
            sub += '; sampled every ' + fmtBytes(p.sampleBytes) + ' on average: estimates';
        head.appendChild(el('div', 'hs-fg-sub', sub));
        root.appendChild(head);

        var bar = el('div', 'hs-fg-bar');
        var sel = el('select', 'hs-fg-metric');
        sel.title = 'what the widths measure';
        d.metrics.forEach(function (m, i) {
            var o = el('option', null, m.name + ': ' + m.label);
            o.value = String(i);
            sel.appendChild(o);
        });
        sel.value = String(this.metric);
        sel.addEventListener('change', function () {
            self.metric = +sel.value;
            self.render();
        });
        bar.appendChild(sel);
        this.orientBtn = el('button', 'hs-fg-orient');
        this.orientBtn.type = 'button';
        this.orientBtn.addEventListener('click', function () {
            self.icicle = !self.icicle;
            self.render();
        });
        bar.appendChild(this.orientBtn);
        this.invertBtn = el('button', 'hs-fg-invert');
        this.invertBtn.type = 'button';
        this.invertBtn.addEventListener('click', function () {
            self.inverted = !self.inverted;
            self.zoom = 0;
            self.render();
        });
        bar.appendChild(this.invertBtn);
        var reset = el('button', 'hs-fg-reset', 'Reset zoom');
        reset.type = 'button';
        reset.addEventListener('click', function () {
            self.zoom = 0;
            self.render();
        });
        bar.appendChild(reset);
        this.searchBox = el('input', 'hs-fg-search');
        this.searchBox.type = 'search';
        this.searchBox.placeholder = 'Search functions, files (regex)';
        var timer = null;
        this.searchBox.addEventListener('input', function () {
            clearTimeout(timer);
            timer = setTimeout(function () { self.setSearch(self.searchBox.value); }, 80);
        });
        bar.appendChild(this.searchBox);
        this.matchInfo = el('span', 'hs-fg-match');
        bar.appendChild(this.matchInfo);
        root.appendChild(bar);

        this.info = el('div', 'hs-fg-info');
        root.appendChild(this.info);
        this.legend = el('div', 'hs-fg-legend');
        root.appendChild(this.legend);
        this.canvas = el('div', 'hs-fg-frames');
        root.appendChild(this.canvas);
        this.tip = el('div', 'hs-fg-tip');
        this.tip.style.display = 'none';
        document.body.appendChild(this.tip);

        this.canvas.addEventListener('click', function (ev) {
            var f = ev.target.closest('.f');
            if (!f || f.dataset.n === undefined)
                return;
            self.zoom = +f.dataset.n;
            self.render();
        });
        this.canvas.addEventListener('mousemove', function (ev) {
            var f = ev.target.closest('.f');
            if (!f) {
                self.tip.style.display = 'none';
                return;
            }
            self.showTip(f, ev.clientX, ev.clientY);
        });
        this.canvas.addEventListener('mouseleave', function () {
            self.tip.style.display = 'none';
        });
        var pending = false;
        window.addEventListener('resize', function () {
            if (pending)
                return;
            pending = true;
            requestAnimationFrame(function () {
                pending = false;
                self.render();
            });
        });
        this.buildLegend();
    };

    Widget.prototype.buildLegend = function () {
        var lg = this.legend, html = '';
        if (this.data.diff) {
            html = '<span class="sw" style="background:hsl(0,85%,60%)"></span>grew ' +
                '<span class="sw" style="background:hsl(215,85%,60%)"></span>shrank ' +
                '<span class="sw" style="background:hsl(0,0%,88%)"></span>unchanged ' +
                '<span class="sw new"></span>new in NEW (not in BASE there)';
        } else {
            for (var k = 0; k < 4; k++)
                html += '<span class="sw" style="background:' + kindColour(k, '') + '"></span>' +
                    esc(KIND_NAMES[k]) + ' ';
        }
        html += ' <span class="sw inl"></span>inlined';
        lg.innerHTML = html;
    };

    Widget.prototype.colour = function (f) {
        var c = this.colours[f];
        if (c === undefined)
            c = this.colours[f] = kindColour(this.frames.kind[f], this.frames.name[f]);
        return c;
    };

    Widget.prototype.setSearch = function (q) {
        this.search = null;
        if (q) {
            try {
                this.search = new RegExp(q, 'i');
            } catch (e) {
                this.search = new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
            }
        }
        this.matched = null;
        this.render();
    };

    /* Which frames the search matches, by frame index. */
    Widget.prototype.matchFrames = function () {
        var fr = this.frames, re = this.search, m = new Uint8Array(fr.n);
        for (var i = 1; i < fr.n; i++)
            m[i] = (re.test(fr.name[i]) || (fr.file[i] !== null && re.test(fr.file[i]))) ? 1 : 0;
        return m;
    };

    /* The share of the total in frames the search matches, each stack counted once. */
    Widget.prototype.matchedTotal = function (t, v, hit) {
        var sum = 0, stack = [0];
        while (stack.length) {
            var n = stack.pop();
            if (n > 0 && hit[t.frame[n]]) {
                sum += v[n];
                continue;
            }
            for (var c = t.first[n]; c >= 0; c = t.next[c])
                stack.push(c);
        }
        return sum;
    };

    Widget.prototype.render = function () {
        var t = this.tree(), v = t.v[this.metric], b = t.b ? t.b[this.metric] : null;
        var W = this.canvas.clientWidth || 1200;
        if (this.zoom >= t.n || !(v[this.zoom] > 0))
            this.zoom = 0;
        var zoom = this.zoom, total = v[0];
        var scale = v[zoom] > 0 ? W / v[zoom] : 0;
        var items = [], a, i;

        var anc = [];
        for (a = t.parent[zoom]; a >= 0; a = t.parent[a])
            anc.push(a);
        anc.reverse();
        for (i = 0; i < anc.length; i++)
            items.push({ n: anc[i], x: 0, w: W, d: i });
        var stack = total > 0 ? [[zoom, 0, anc.length]] : [];
        while (stack.length) {
            var top = stack.pop(), node = top[0], x = top[1], d = top[2];
            items.push({ n: node, x: x, w: v[node] * scale, d: d });
            var kids = [];
            for (var c = t.first[node]; c >= 0; c = t.next[c])
                if (v[c] > 0)
                    kids.push(c);
            kids.sort(function (p, q) { return v[q] - v[p]; });
            var cx = x, mn = 0, mv = 0, mx = 0, mb = 0;
            for (i = 0; i < kids.length; i++) {
                var cw = v[kids[i]] * scale;
                if (cw >= MIN_PX) {
                    stack.push([kids[i], cx, d + 1]);
                } else {
                    if (mn === 0)
                        mx = cx;
                    mn++;
                    mv += v[kids[i]];
                    if (b)
                        mb += b[kids[i]];
                }
                cx += cw;
            }
            if (mn > 0 && mv * scale >= 0.5)
                items.push({ n: -1, x: mx, w: mv * scale, d: d + 1, mn: mn, mv: mv, mb: mb,
                             parent: node });
        }
        this.items = items;

        var maxD = 0;
        for (i = 0; i < items.length; i++)
            if (items[i].d > maxD)
                maxD = items[i].d;
        var maxAbs = 0;
        if (b)
            for (i = 0; i < items.length; i++)
                if (items[i].n > 0) {
                    var dd = Math.abs(v[items[i].n] - b[items[i].n]);
                    if (dd > maxAbs)
                        maxAbs = dd;
                }
        var hit = this.search ? (this.matched || (this.matched = this.matchFrames())) : null;
        var fr = this.frames, html = [];
        for (i = 0; i < items.length; i++) {
            var it = items[i], n = it.n;
            var y = this.icicle ? it.d * ROW : (maxD - it.d) * ROW;
            var w = Math.max(it.w - 1, 0.5);
            var cls, label, col, f = n >= 0 ? t.frame[n] : 0;
            if (n < 0) {
                cls = 'f mrg';
                label = '(' + it.mn + ' smaller)';
                col = b ? diffColour(it.mv - it.mb, maxAbs) : '';
            } else if (n === 0) {
                cls = 'f root';
                label = 'all';
                col = '';
            } else {
                cls = 'f k' + fr.kind[f];
                label = fr.name[f];
                if (fr.inl[f])
                    cls += ' inl';
                if (b) {
                    col = diffColour(v[n] - b[n], maxAbs);
                    if (b[n] === 0)
                        cls += ' new';
                } else {
                    col = fr.kind[f] === 5 ? '' : this.colour(f);
                }
                if (hit && hit[f])
                    cls += ' hl';
            }
            if (n >= 0 && n === zoom && zoom !== 0)
                cls += ' zoomed';
            if (n >= 0 && it.d < anc.length)
                cls += ' anc';
            html.push('<div class="', cls, '" ', n >= 0 ? 'data-n="' + n + '"' : 'data-m="' + i + '"',
                      ' style="left:', it.x.toFixed(1), 'px;width:', w.toFixed(1), 'px;top:', y,
                      'px', col ? ';background:' + col : '', '">', esc(label), '</div>');
        }
        this.canvas.style.height = ((maxD + 1) * ROW) + 'px';
        this.canvas.innerHTML = html.join('');

        var m = this.metricInfo();
        var info = m.label + ': ' + this.fmt(total);
        if (b)
            info = m.label + ': BASE ' + this.fmt(m.baseTotal) + ' \u2192 NEW ' + this.fmt(total) +
                ' (' + (total - m.baseTotal >= 0 ? '+' : '') + this.fmt(total - m.baseTotal) + ')';
        if (zoom !== 0)
            info += '; zoomed on ' + fr.name[t.frame[zoom]] + ': ' + this.fmt(v[zoom]) +
                ' (' + (100 * v[zoom] / total).toFixed(2) + '%)';
        if (this.inverted)
            info += '; inverted: the allocating functions at the root';
        this.info.textContent = info;
        this.orientBtn.textContent = this.icicle ? 'Flame (roots at the bottom)' : 'Icicle (roots at the top)';
        this.invertBtn.textContent = this.inverted ? 'Callers first' : 'Inverted (allocators first)';
        if (hit) {
            var sum = this.matchedTotal(t, v, hit);
            this.matchInfo.textContent = 'matched: ' + this.fmt(sum) + ' (' +
                (total > 0 ? (100 * sum / total).toFixed(2) : '0') + '%)';
        } else {
            this.matchInfo.textContent = '';
        }
        if (!this.root.hasAttribute('data-ready')) {
            this.root.setAttribute('data-ready', String(performance.now()));
            (window.heapspanFlameTimes = window.heapspanFlameTimes || []).push(performance.now());
        }
    };

    Widget.prototype.showTip = function (div, cx, cy) {
        var t = this.tree(), m = this.metricInfo(), k = this.metric, fr = this.frames;
        var v = t.v[k], b = t.b ? t.b[k] : null, total = v[0], html;
        if (div.dataset.m !== undefined) {
            var it = this.items[+div.dataset.m];
            html = '<b>' + it.mn + ' frames narrower than a pixel</b><br>' +
                esc(this.fmt(it.mv)) + ' (' + (100 * it.mv / total).toFixed(2) + '%)';
            if (b)
                html += '<br>BASE ' + esc(this.fmt(it.mb));
        } else {
            var n = +div.dataset.n, f = t.frame[n];
            if (n === 0) {
                html = '<b>all</b>';
            } else {
                html = '<b>' + esc(fr.name[f]) + '</b>' + (fr.inl[f] ? ' <i>(inlined)</i>' : '');
                if (fr.file[f] !== null)
                    html += '<br>' + esc(fr.file[f]) + (fr.line[f] > 0 ? ':' + fr.line[f] : '');
                if (fr.mod[f] !== null)
                    html += '<br>module ' + esc(fr.mod[f]) + ' (' + KIND_NAMES[fr.kind[f]] + ')';
            }
            html += '<br>' + esc(m.label) + ': <b>' + esc(this.fmtExact(v[n])) + '</b> (' +
                (total > 0 ? (100 * v[n] / total).toFixed(2) : '0') + '% of all';
            if (this.zoom !== 0 && v[this.zoom] > 0)
                html += ', ' + (100 * v[n] / v[this.zoom]).toFixed(2) + '% of the zoomed';
            html += ')';
            var blocks = t.v[2][n], leakedBlocks = t.v[NV_LEAKED_N][n];
            html += '<br>blocks: ' + fmtCount(blocks) + ' allocated, ' + fmtCount(t.v[3][n]) +
                ' temporary, ' + fmtCount(leakedBlocks) + ' leaked (' + fmtBytes(t.v[1][n]) + ')';
            html += '<br>bytes: ' + fmtBytes(t.v[0][n]) + ' at the peak, ' + fmtBytes(t.v[4][n]) +
                ' allocated in all';
            if (b) {
                var delta = v[n] - b[n];
                html += '<br>BASE ' + esc(this.fmtExact(b[n])) + ', change <b>' + (delta >= 0 ? '+' : '') +
                    esc(this.fmtExact(delta)) + '</b>' + (b[n] === 0 && n !== 0 ? ' <b>(new)</b>' : '');
            }
        }
        var tip = this.tip;
        tip.innerHTML = html;
        tip.style.display = 'block';
        var x = cx + 14, y = cy + 14, r = tip.getBoundingClientRect();
        if (x + r.width > window.innerWidth)
            x = Math.max(0, cx - r.width - 14);
        if (y + r.height > window.innerHeight)
            y = Math.max(0, cy - r.height - 14);
        tip.style.left = (x + window.scrollX) + 'px';
        tip.style.top = (y + window.scrollY) + 'px';
    };

    return {
        mount: function (root, data) {
            return new Widget(root, data);
        },
        fmtBytes: fmtBytes
    };
})();
