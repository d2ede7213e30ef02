// The class pages (templates/class_base.html): the teacher's overlay of every student's curve,
// and the projector's waiting screen following the spotlight.

import { startClassChart } from "../class-chart.js";
import { followSpotlight } from "../spotlight.js";

startClassChart();
followSpotlight();
