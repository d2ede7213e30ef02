// Runs compared (templates/compare.html): their curves on one chart.

import { startCompareChart } from "../compare.js";

startCompareChart();
