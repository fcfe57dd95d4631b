// MathJax 3 configuration. Must load before vendor/mathjax/tex-svg.js (see mkdocs.yml).
// pymdownx.arithmatex (generic mode) wraps every formula in an element of class "arithmatex";
// only those are typeset. SVG output carries its own glyphs, so nothing is fetched: the site
// shows typeset mathematics offline, from a file:// copy as well as from a server.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    // Equations carry explicit \tag{n} numbers (the theory page's numbering); no automatic ones.
    tags: "none",
  },
  svg: { fontCache: "global" },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};

// With Material's instant navigation (not enabled today) pages are swapped without a reload:
// typeset the new content each time. The first emission is the initial page load, which
// MathJax typesets by itself.
if (typeof document$ !== "undefined") {
  let initialLoad = true;
  document$.subscribe(() => {
    if (initialLoad) {
      initialLoad = false;
      return;
    }
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.output && mj.typesetPromise) {
      if (mj.startup.output.clearFontCache) mj.startup.output.clearFontCache();
      mj.typesetClear();
      mj.texReset();
      mj.typesetPromise();
    }
  });
}
