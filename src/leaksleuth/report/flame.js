// leaksleuth flame graph: draws the tree embedded as JSON in #flame-data. No external resources, no innerHTML:
// every name reaches the page through textContent or an attribute, so a function named like an HTML tag is just text.
(function () {
  "use strict";
  var ROW = 18;
  var data = JSON.parse(document.getElementById("flame-data").textContent);
  var nodes = data.nodes.map(function (row, id) {
    return { id: id, name: data.names[row[0]], value: row[1], base: row[2], parent: row[3], children: [] };
  });
  nodes.forEach(function (node) {
    if (node.parent >= 0) nodes[node.parent].children.push(node);
  });
  var root = nodes[0];
  var chart = document.getElementById("chart");
  var details = document.getElementById("details");
  var matchInfo = document.getElementById("match-info");
  var zoomInfo = document.getElementById("zoom-info");
  var searchBox = document.getElementById("search");
  var zoomed = root;
  var pattern = null;

  function width(node) {
    return Math.abs(node.value) + Math.abs(node.base);
  }

  function format(value) {
    var sign = value < 0 ? "-" : "";
    var size = Math.abs(value);
    if (data.unit === "bytes") {
      var units = ["B", "KiB", "MiB", "GiB", "TiB"];
      var unit = 0;
      while (size >= 1024 && unit < units.length - 1) {
        size /= 1024;
        unit += 1;
      }
      return sign + (unit === 0 ? size.toFixed(0) : size.toPrecision(3)) + units[unit];
    }
    if (data.unit === "nanoseconds") {
      return sign + (size >= 1e9 ? (size / 1e9).toPrecision(3) + "s" : (size / 1e6).toPrecision(3) + "ms");
    }
    return sign + size.toLocaleString("en-US");
  }

  function share(node) {
    var total = width(root) || 1;
    return ((width(node) / total) * 100).toFixed(2) + "%";
  }

  function describe(node) {
    var name = node === root ? "all samples" : node.name;
    if (!data.diff) return name + "  " + format(node.value) + " (" + share(node) + ")";
    var delta = node.value - node.base;
    return (
      name + "  now " + format(node.value) + ", before " + format(node.base) +
      ", change " + (delta >= 0 ? "+" : "") + format(delta)
    );
  }

  function hash(text) {
    var h = 0;
    for (var i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
    return Math.abs(h);
  }

  function color(node) {
    if (data.diff) {
      var delta = node.value - node.base;
      var relative = delta / Math.max(Math.abs(node.value), Math.abs(node.base), 1);
      if (Math.abs(relative) < 0.02) return "hsl(0, 0%, 85%)";
      var strength = Math.min(1, Math.abs(relative));
      var lightness = 88 - 38 * strength;
      return relative > 0 ? "hsl(0, 80%, " + lightness + "%)" : "hsl(215, 80%, " + lightness + "%)";
    }
    var h = hash(node.name);
    return "hsl(" + (10 + (h % 45)) + ", " + (70 + (h % 20)) + "%, " + (58 + (h % 14)) + "%)";
  }

  function box(node, left, span, row, ancestor) {
    var element = document.createElement("div");
    element.className = "frame" + (ancestor ? " ancestor" : "");
    element.style.left = left + "%";
    element.style.width = span + "%";
    element.style.top = row * ROW + "px";
    element.style.background = color(node);
    element.textContent = node === root ? "all samples" : node.name;
    element.setAttribute("title", describe(node));
    element.setAttribute("data-id", String(node.id));
    return element;
  }

  function render() {
    chart.textContent = "";
    var fragment = document.createDocumentFragment();
    var ancestors = [];
    for (var up = zoomed.parent >= 0 ? nodes[zoomed.parent] : null; up; up = up.parent >= 0 ? nodes[up.parent] : null) {
      ancestors.unshift(up);
    }
    ancestors.forEach(function (node, row) {
      fragment.appendChild(box(node, 0, 100, row, true));
    });
    var total = width(zoomed) || 1;
    var lastRow = ancestors.length;
    var stack = [[zoomed, 0, ancestors.length]];
    while (stack.length) {
      var item = stack.pop();
      var node = item[0];
      var span = (width(node) / total) * 100;
      if (span < 0.05) continue; // narrower than a pixel on most screens
      fragment.appendChild(box(node, item[1], span, item[2], false));
      lastRow = Math.max(lastRow, item[2]);
      var left = item[1];
      node.children.forEach(function (child) {
        stack.push([child, left, item[2] + 1]);
        left += (width(child) / total) * 100;
      });
    }
    chart.style.height = (lastRow + 1) * ROW + "px";
    chart.appendChild(fragment);
    zoomInfo.textContent = zoomed === root ? "" : "zoomed into " + zoomed.name + " (" + share(zoomed) + ")";
    highlight();
  }

  function compile(text) {
    if (!text) return null;
    try {
      return new RegExp(text, "i");
    } catch (error) {
      return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
    }
  }

  function highlight() {
    var frames = chart.querySelectorAll(".frame");
    var shown = 0;
    frames.forEach(function (element) {
      var node = nodes[Number(element.getAttribute("data-id"))];
      var hit = pattern !== null && node !== root && pattern.test(node.name);
      element.classList.toggle("match", hit);
      if (hit) shown += 1;
    });
    if (pattern === null) {
      matchInfo.textContent = "";
      return;
    }
    // the matched share counts each sample once: a match below a matched frame adds nothing
    var matched = 0;
    var count = 0;
    var stack = [[root, false]];
    while (stack.length) {
      var item = stack.pop();
      var hit = item[0] !== root && pattern.test(item[0].name);
      if (hit) count += 1;
      if (hit && !item[1]) matched += width(item[0]);
      item[0].children.forEach(function (child) {
        stack.push([child, item[1] || hit]);
      });
    }
    var total = width(root) || 1;
    matchInfo.textContent =
      count + " frames match (" + shown + " shown): " + ((matched / total) * 100).toFixed(2) + "% of the total";
  }

  function search(text) {
    pattern = compile(text);
    highlight();
  }

  function zoom(node) {
    zoomed = node;
    render();
  }

  chart.addEventListener("click", function (event) {
    var element = event.target.closest(".frame");
    if (element) zoom(nodes[Number(element.getAttribute("data-id"))]);
  });
  chart.addEventListener("mouseover", function (event) {
    var element = event.target.closest(".frame");
    if (element) details.textContent = describe(nodes[Number(element.getAttribute("data-id"))]);
  });
  searchBox.addEventListener("input", function () {
    search(searchBox.value);
  });
  document.getElementById("reset").addEventListener("click", function () {
    zoom(root);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") zoom(root);
  });
  details.textContent = describe(root);
  render();
  window.leaksleuthFlame = { search: search, zoom: zoom, nodes: nodes };
})();
