import Foundation

/// Small self-contained SVG charts (no script, no external file) for the HTML report.
public enum SVGChart {
    public struct Series {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false

        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
        }
    }

    /// How an axis maps and labels values.
    public enum Axis {
        case linear(format: (Double) -> String)
        /// Log10 scale; values ≤ 0 are drawn at the bottom.
        case log(format: (Double) -> String)
        /// Percentiles on the HdrHistogram scale: x = log10(1 / (1 − p/100)).
        case percentile
    }

    static let width = 900.0, height = 300.0
    static let left = 70.0, right = 20.0, top = 48.0, bottom = 45.0

    /// A line chart.
    public static func lines(title: String, xLabel: String, yLabel: String, series: [Series], x: Axis, y: Axis) -> String {
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return empty(title) }
        let (xMin, xMax, xTicks) = range(all.map(\.x), axis: x)
        let (yMin, yMax, yTicks) = range(all.map(\.y), axis: y)
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ value: Double) -> Double { left + (transform(value, x) - xMin) / max(xMax - xMin, 1e-9) * plotW }
        func py(_ value: Double) -> Double { top + plotH - (transform(value, y) - yMin) / max(yMax - yMin, 1e-9) * plotH }
        var svg = header(title)
        for tick in yTicks {
            let yy = py(tick.value)
            svg += line(left, yy, width - right, yy, "#e5e7eb")
            svg += text(left - 6, yy + 4, tick.label, anchor: "end")
        }
        for tick in xTicks {
            let xx = px(tick.value)
            svg += line(xx, top, xx, top + plotH, "#f1f5f9")
            svg += text(xx, top + plotH + 16, tick.label, anchor: "middle")
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#94a3b8\"/>"
        for item in series where !item.points.isEmpty {
            let path = item.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(item.color)\" stroke-width=\"1.8\"\(item.dashed ? " stroke-dasharray=\"5 4\"" : "") points=\"\(path)\"/>"
            if item.points.count == 1 {
                svg += "<circle cx=\"\(f(px(item.points[0].x)))\" cy=\"\(f(py(item.points[0].y)))\" r=\"3\" fill=\"\(item.color)\"/>"
            }
        }
        svg += legend(series.map { ($0.name, $0.color) })
        svg += text(left + plotW / 2, height - 8, xLabel, anchor: "middle")
        svg += "<text x=\"14\" y=\"\(f(top + plotH / 2))\" font-size=\"12\" fill=\"#334155\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(top + plotH / 2)))\">\(escape(yLabel))</text>"
        return svg + "</svg>"
    }

    /// Horizontal stacked bars: one bar per row, segments by label.
    public static func stackedBars(title: String, rows: [(name: String, segments: [(label: String, value: Double, color: String)])]) -> String {
        guard !rows.isEmpty else { return empty(title) }
        let rowH = 34.0
        let top = 30.0
        let chartH = top + Double(rows.count) * rowH + 60
        let labelW = 110.0
        let plotW = width - labelW - right - 10
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(chartH))\" viewBox=\"0 0 \(f(width)) \(f(chartH))\" font-family=\"sans-serif\">"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        svg += text(width / 2, 18, title, anchor: "middle", size: 14, weight: "bold")
        var legendItems: [(String, String)] = []
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowH
            let total = row.segments.reduce(0) { $0 + $1.value }
            svg += text(labelW, y + 20, row.name, anchor: "end")
            var x = labelW + 8
            for segment in row.segments where segment.value > 0 {
                let w = total > 0 ? segment.value / total * plotW : 0
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y + 6))\" width=\"\(f(max(w, 0.5)))\" height=\"\(f(rowH - 12))\" fill=\"\(segment.color)\"><title>\(escape(segment.label)): \(Int(segment.value))</title></rect>"
                if w > 60 {
                    svg += text(x + w / 2, y + 21, "\(segment.label) \(Int(segment.value))", anchor: "middle", size: 11, color: "white")
                }
                x += w
                if !legendItems.contains(where: { $0.0 == segment.label }) { legendItems.append((segment.label, segment.color)) }
            }
        }
        var lx = labelW + 8, ly = top + Double(rows.count) * rowH + 20
        for (label, color) in legendItems {
            let w = Double(label.count) * 7 + 26
            if lx + w > width - right { lx = labelW + 8; ly += 18 }
            svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"10\" height=\"10\" fill=\"\(color)\"/>" + text(lx + 14, ly, label, anchor: "start", size: 11)
            lx += w
        }
        return svg + "</svg>"
    }

    // MARK: Pieces

    private static func transform(_ value: Double, _ axis: Axis) -> Double {
        switch axis {
        case .linear: value
        case .log: log10(max(value, 1))
        case .percentile: log10(1 / max(1 - min(value, 99.9999) / 100, 1e-6))
        }
    }

    private static func range(_ values: [Double], axis: Axis) -> (Double, Double, [(value: Double, label: String)]) {
        switch axis {
        case .linear(let format):
            let low = min(0, values.min() ?? 0)
            let high = max(values.max() ?? 1, low + 1)
            let step = niceStep((high - low) / 5)
            let top = (high / step).rounded(.up) * step
            let ticks = stride(from: low, through: top + step / 2, by: step).map { ($0, format($0)) }
            return (low, top, ticks)
        case .log(let format):
            let positive = values.filter { $0 > 0 }
            let low = floor(log10(max(positive.min() ?? 1, 1)))
            let high = max(ceil(log10(max(positive.max() ?? 10, 1))), low + 1)
            let ticks = stride(from: low, through: high, by: 1).map { (pow(10, $0), format(pow(10, $0))) }
            return (low, high, ticks)
        case .percentile:
            let labels = [(0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%"), (99.999, "99.999%")]
            let maxX = transform(values.max() ?? 99.999, axis)
            return (0, max(maxX, 1), labels.filter { transform($0.0, axis) <= max(maxX, 1) + 1e-9 }.map { ($0.0, $0.1) })
        }
    }

    private static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        for factor in [1.0, 2, 2.5, 5, 10] where factor * magnitude >= raw { return factor * magnitude }
        return 10 * magnitude
    }

    private static func header(_ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>" + text(width / 2, 18, title, anchor: "middle", size: 14, weight: "bold")
    }

    private static func empty(_ title: String) -> String {
        header(title) + text(width / 2, height / 2, "no data", anchor: "middle") + "</svg>"
    }

    private static func legend(_ items: [(String, String)]) -> String {
        var svg = ""
        var x = left + 10
        for (name, color) in items {
            svg += "<rect x=\"\(f(x))\" y=\"\(f(top - 16))\" width=\"14\" height=\"3\" fill=\"\(color)\"/>" + text(x + 18, top - 10, name, anchor: "start", size: 11)
            x += Double(name.count) * 7 + 34
        }
        return svg
    }

    private static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ color: String) -> String {
        "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(color)\"/>"
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, size: Int = 11, weight: String = "normal", color: String = "#334155") -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" font-weight=\"\(weight)\" fill=\"\(color)\" text-anchor=\"\(anchor)\">\(escape(content))</text>"
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
